import HTTPTypes
import Hummingbird
import WebhookCore
import WebhookStorage

/// Authenticates every /v1 request by its `Authorization: Bearer <key>` header and records the key's
/// workspace in the context; anything else gets 401 before any route runs.
///
/// Keys are looked up by their SHA-256, so the stored form never has to be compared with the key.
struct APIKeyMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let store: any WebhookStore
    /// Each key's token bucket, when the API is rate limited.
    let rateLimiter: APIRateLimiter?

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let path = request.uri.path
        guard path == "/v1" || path.hasPrefix("/v1/") else { return try await next(request, context) }
        guard let header = request.headers[.authorization] else {
            throw APIError.unauthorized(
                "send an API key as `Authorization: Bearer <key>`; an operator creates one with "
                    + "`qr3-webhookd api-keys create --workspace <workspace>`"
            )
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw APIError.unauthorized("the Authorization header must be `Bearer <key>`")
        }
        let key = parts[1].trimmingSpaces()
        guard APIKeyMaterial.looksLikeKey(key),
            let found = try await store.activeAPIKey(hash: APIKeyMaterial.hash(String(key)))
        else {
            throw APIError.unauthorized("the API key is not valid: it is mistyped or was revoked")
        }
        if let rateLimiter, let wait = rateLimiter.take(key: found.id) {
            throw APIError.rateLimited(retryAfter: wait, rate: rateLimiter.rate)
        }
        var context = context
        context.workspaceID = found.workspaceID
        return try await next(request, context)
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        var text = self
        while text.last == " " || text.last == "\t" { text.removeLast() }
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        return text
    }
}
