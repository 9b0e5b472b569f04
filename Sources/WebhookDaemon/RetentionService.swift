import Logging
import ServiceLifecycle
import WebhookCore
import WebhookStorage

/// Keeps the database's size flat: every few seconds removes what `retention` (and
/// `held-retention`) no longer keeps, in transactions of a few milliseconds each.
struct RetentionService: Service {
    let store: any WebhookStore
    let retention: Duration
    let heldRetention: Duration
    /// While the delivery loop reports the database failing, a failed pass is not logged again.
    let health: StoreHealth
    let logger: Logger

    /// A twentieth of the retention, between a second and a minute: what is removed at a time
    /// stays small, and nothing outlives its retention by more than that.
    var interval: Duration {
        min(.seconds(60), max(.seconds(1), retention / 20))
    }

    func run() async throws {
        await repeatUntilShutdown(
            every: interval, failureMessage: "Cannot remove old deliveries", logger: logger,
            logsFailures: { health.fault == nil }
        ) {
            let report = try await store.prune(
                PruneRequest(now: .now(), retention: retention, heldRetention: heldRetention))
            if report.total > 0 {
                logger.debug(
                    "Removed what retention no longer keeps",
                    metadata: [
                        "attempts": "\(report.attempts)", "jobs": "\(report.jobs)", "held": "\(report.heldJobs)",
                        "events": "\(report.events)", "rejected_rows": "\(report.rejectedRows)",
                    ]
                )
            }
            if report.heldJobs > 0 {
                logger.notice(
                    "Held deliveries removed after held-retention", metadata: ["count": "\(report.heldJobs)"])
            }
        }
    }
}
