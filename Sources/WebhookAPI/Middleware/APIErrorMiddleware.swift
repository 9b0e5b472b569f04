import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import WebhookStorage

/// Turns every failure into the API's one error shape, and tells a wrong method (405) from an
/// unknown route (404).
///
/// A fault of the daemon itself (the database, a bug) is logged and answered with 500
/// `internal_error`; nothing a client sends is meant to reach that branch.
struct APIErrorMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let logger: Logger

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response
        } catch let error as HTTPError where error.status == .notFound {
            return Self.unrouted(request).response
        } catch is NIOTooManyBytesError {
            return APIError(.contentTooLarge, code: "body_too_large", message: "the request body is too large").response
        } catch let error as StoreQueryError {
            return APIError(.badRequest, code: "invalid_parameter", message: error.description, field: "starting_after")
                .response
        } catch let error as any HTTPResponseError {
            return APIError(error.status, code: "http_\(error.status.code)", message: error.status.reasonPhrase)
                .response
        } catch {
            logger.error(
                "API request failed",
                metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "error": "\(error)"]
            )
            return APIError(
                .internalServerError,
                code: "internal_error",
                message: "the server could not complete the request; it has logged why"
            ).response
        }
    }

    /// 405 with `Allow` when the path is a route of another method, else 404.
    static func unrouted(_ request: Request) -> APIError {
        let allowed = APIRoute.all.filter { $0.matches(path: request.uri.path) }.map(\.method.rawValue)
        guard !allowed.isEmpty else {
            return APIError(
                .notFound,
                code: "not_found",
                message: "there is no route \(request.uri.path.prefix(200)); see GET /v1/openapi.json for the API"
            )
        }
        var error = APIError(
            .methodNotAllowed,
            code: "method_not_allowed",
            message: "\(request.method.rawValue.prefix(20)) is not allowed on \(request.uri.path.prefix(200)); "
                + "use \(allowed.joined(separator: ", "))"
        )
        error.headers[.allow] = allowed.joined(separator: ", ")
        return error
    }
}
