import GRDB
import WebhookCore
import WebhookStorage

extension APITestServer {
    /// Adds one event per outcome to `workspace`, takes it in and records one attempt with that
    /// outcome for every webhook it went to, as the delivery service would.
    ///
    /// Each outcome comes a millisecond or more after the one before, and the pause a failure puts
    /// on its webhook is lifted before the next (as if the probe's time had come), so every outcome
    /// is one attempt of its own event; a failure opens the circuit and counts, a success closes it.
    func recordAttempts(
        workspace: String,
        type: String = "qr.scanned",
        outcomes: [DeliveryOutcome],
        policy: RetryPolicy = RetryPolicy(),
        disableAfter: Int = 10
    ) async throws {
        var last = Timestamp(milliseconds: 0)
        for outcome in outcomes {
            let now = max(Timestamp.now(), last.adding(milliseconds: 1))
            last = now
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
            try await DatabaseQueue(path: store.path).write { db in
                try db.execute(sql: "UPDATE webhooks SET paused_until = NULL")
            }
        }
    }
}

extension DeliveryOutcome {
    static let ok = DeliveryOutcome.answered(status: 200, responseTimeMs: 12, excerpt: "ok")
    static let serverError = DeliveryOutcome.answered(status: 500, responseTimeMs: 30, excerpt: "down")
    static let timedOut = DeliveryOutcome(
        statusCode: nil, responseTimeMs: 10_000, failure: .timeout, excerpt: "timed out")
}
