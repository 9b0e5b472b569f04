import Hummingbird
import WebhookCore
import WebhookStorage

extension APIHandlers {
    /// `POST /v1/webhooks/{id}/recover`: queues one fresh delivery of every event of the webhook
    /// created in `[since, until)` that failed for good or was never made; answers how many.
    ///
    /// Running it again queues nothing twice. For a disabled webhook the deliveries are held and
    /// sent when it is enabled. `"dry_run": true` counts without queueing.
    func recoverWebhook(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let workspace = try context.workspace()
        _ = try QueryParameters(request, allowed: [])
        let id = webhookID(context)
        let body = try await RequestObject.read(request, limit: configuration.maximumBodyBytes)
        try body.allowOnly(["since", "until", "dry_run"])
        try body.require("since", "the ISO 8601 time of the first event to recover, like 2026-03-15T10:00:00.000Z")
        let now = Timestamp.now()
        let since = try Self.time(body.string("since") ?? "", field: "since")
        let until = try body.string("until").map { try Self.time($0, field: "until") } ?? now
        guard since < until else { throw APIError.invalidValue("since", "since must be before until") }
        let dryRun = try body.bool("dry_run") ?? false
        guard
            let report = try await store.recover(
                RecoveryRequest(
                    webhookID: id, workspaceID: workspace, since: since, until: until, dryRun: dryRun, now: now))
        else { throw APIError.webhookNotFound(id) }
        if report.total > 0, !dryRun { hooks.jobsDue() }
        return JSONResponse.make(dryRun ? .ok : .accepted, report.representation(dryRun: dryRun).json)
    }

    private static func time(_ text: String, field: String) throws(APIError) -> Timestamp {
        guard let time = Timestamp(iso8601: text) else {
            throw APIError.invalidValue(field, "\(field) must be an ISO 8601 time like 2026-03-15T10:00:00.000Z")
        }
        return time
    }
}
