import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization
import WebhookCore
import WebhookStorage

/// Turns every failure into the API's one error shape, and tells a wrong method (405) from an
/// unknown route (404).
///
/// A database that fails (a full disk, an I/O error, a lost connection) is answered with 503
/// `unavailable` and `Retry-After`, and logged at most once a minute. Any other fault of the
/// daemon itself (a bug) is logged and answered with 500 `internal_error`; nothing a client sends
/// is meant to reach that branch.
struct APIErrorMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    /// Classifies the errors it throws.
    let store: any WebhookStore
    let logger: Logger
    /// When a database fault was last logged, and how many requests it failed since.
    private let faultLog = FaultLogThrottle()

    init(store: any WebhookStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

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
            let fault = store.fault(of: error)
            if fault.kind != .other {
                return storeFailed(fault, request)
            }
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

    /// 503 for a request the failing database could not serve; logged once a minute at most.
    private func storeFailed(_ fault: StoreFault, _ request: Request) -> Response {
        if let failed = faultLog.shouldLog(now: .now) {
            logger.warning(
                "API requests fail: the database fails",
                metadata: [
                    "fault": "\(fault.kind.rawValue)", "error": "\(fault.detail)", "method": "\(request.method)",
                    "path": "\(request.uri.path)", "requests_failed": "\(failed)",
                ]
            )
        }
        var error = APIError(
            .serviceUnavailable,
            code: "unavailable",
            message: "the database cannot serve this request now (\(fault.kind.phrase)); "
                + "the request was not completed; try again in a few seconds"
        )
        error.headers[.retryAfter] = "5"
        return error.response
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

/// Lets one line about a failing database through per minute, counting the requests between.
final class FaultLogThrottle: Sendable {
    private struct State {
        var loggedAt: ContinuousClock.Instant?
        var failed = 0
    }

    private let state = Mutex(State())
    private let interval: Duration

    init(interval: Duration = .seconds(60)) {
        self.interval = interval
    }

    /// Counts a failed request; returns the requests failed since the last line when one is due now.
    func shouldLog(now: ContinuousClock.Instant) -> Int? {
        state.withLock { state in
            state.failed += 1
            if let last = state.loggedAt, now - last < interval { return nil }
            state.loggedAt = now
            defer { state.failed = 0 }
            return state.failed
        }
    }
}
