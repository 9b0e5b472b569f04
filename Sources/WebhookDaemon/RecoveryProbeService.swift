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
    let logger: Logger

    func run() async throws {
        // Checked often enough that a probe is at most a few seconds late.
        let check = min(interval, .seconds(5))
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let probes = try await store.queueRecoveryProbes(interval: interval, now: .now())
                failures = 0
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
            } catch is CancellationError {
                return
            } catch {
                failures += 1
                if failures == 1 || failures.isMultiple(of: 100) {
                    logger.warning(
                        "Cannot queue recovery probes", metadata: ["error": "\(error)", "failures": "\(failures)"])
                }
            }
            try? await Task.sleep(for: check)
        }
    }
}
