import Logging
import ServiceLifecycle
import WebhookCore
import WebhookStorage

/// Sends disabled webhooks a recovery probe each `recovery-probe-interval` (off by default).
///
/// A probe is a `webhook.ping` job, the one job a disabled webhook is sent; each is an attempt
/// in its delivery log. A 2xx answer enables the webhook again and releases its held deliveries
/// (``DeliveryRules``); any other answer leaves it disabled until the next probe. Only webhooks
/// disabled by failures or a `410 Gone` are probed, never one disabled by hand.
struct RecoveryProbeService: Service {
    let store: any WebhookStore
    let interval: Duration
    /// Called when probes were queued, so the delivery loop claims them at once.
    let probesQueued: @Sendable () -> Void
    /// While the delivery loop reports the database failing, a failed pass is not logged again.
    let health: StoreHealth
    let logger: Logger

    func run() async throws {
        // Checked often enough that a probe is at most a few seconds late.
        await repeatUntilShutdown(
            every: min(interval, .seconds(5)), failureMessage: "Cannot queue recovery probes", logger: logger,
            logsFailures: { health.fault == nil }
        ) {
            let probes = try await store.queueRecoveryProbes(interval: interval, now: .now())
            for probe in probes {
                logger.info(
                    "Recovery probe queued for a disabled webhook",
                    metadata: [
                        "webhook_id": "\(probe.webhookID)", "workspace_id": "\(probe.workspaceID)",
                        "event_id": "\(probe.eventID)",
                    ]
                )
            }
            if !probes.isEmpty { probesQueued() }
        }
    }
}
