import Hummingbird
import WebhookCore
import WebhookStorage

extension APIHandlers {
    /// `POST /v1/webhooks/{id}/rotate-secret`: a new secret (the one given, or a generated one),
    /// answered this once; the old one keeps signing deliveries beside it for
    /// `previous_secret_expires_in` seconds (default one day, 0 for none). See ``SecretRotation``.
    func rotateSecret(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let workspace = try context.workspace()
        _ = try QueryParameters(request, allowed: [])
        let id = webhookID(context)
        let body = try await RequestObject.readOptional(request, limit: configuration.maximumBodyBytes)
        try body.allowOnly(["secret", "previous_secret_expires_in"])
        let secret = try body.string("secret") ?? WebhookValidation.generateSecret()
        try validSecret(secret)
        let overlap = try body.integer("previous_secret_expires_in") ?? SecretRotation.defaultOverlapSeconds
        guard (0...SecretRotation.maximumOverlapSeconds).contains(overlap) else {
            throw APIError.invalidValue(
                "previous_secret_expires_in",
                "previous_secret_expires_in must be from 0 (the old secret stops at once) to "
                    + "\(SecretRotation.maximumOverlapSeconds) seconds (30 days)")
        }
        let now = Timestamp.now()
        guard
            let webhook = try await store.rotateSecret(
                id: id, workspaceID: workspace, to: secret, overlapSeconds: overlap, now: now)
        else { throw APIError.webhookNotFound(id) }
        return JSONResponse.make(.ok, WebhookRepresentation(webhook, revealingSecret: true, now: now).json)
    }
}
