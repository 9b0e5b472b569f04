import WebhookCore
import WebhookStorage

extension APITestServer {
    /// Adds one event per outcome to `workspace`, takes it in and records one attempt with that
    /// outcome for every webhook it went to, as the delivery service would.
    func recordAttempts(
        workspace: String,
        type: String = "qr.scanned",
        outcomes: [DeliveryOutcome],
        policy: RetryPolicy = RetryPolicy(),
        disableAfter: Int = 10
    ) async throws {
        for outcome in outcomes {
            let now = Timestamp.now()
            _ = try await store.enqueue(
                OutboxRow(
                    sequence: 0, eventID: nil, workspaceID: workspace, type: type, data: Array("{}".utf8),
                    createdAt: now)
            )
            _ = try await store.ingest(limit: 1000, validator: OutboxValidator(), now: now)
            let jobs = try await store.claim(
                owner: "test", limit: 1000, perWebhookLimit: 1000, lease: .seconds(60), now: now)
            _ = try await store.record(
                jobs.map { AttemptResult(job: $0, outcome: outcome, finishedAt: now) },
                policy: policy,
                disableAfter: disableAfter
            )
        }
    }
}

extension DeliveryOutcome {
    static let ok = DeliveryOutcome.answered(status: 200, responseTimeMs: 12, excerpt: "ok")
    static let serverError = DeliveryOutcome.answered(status: 500, responseTimeMs: 30, excerpt: "down")
    static let timedOut = DeliveryOutcome(
        statusCode: nil, responseTimeMs: 10_000, failure: .timeout, excerpt: "timed out")
}
