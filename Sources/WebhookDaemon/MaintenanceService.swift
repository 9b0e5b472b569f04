import Logging
import ServiceLifecycle
import WebhookStorage

/// Runs the store's housekeeping (``WebhookStore/maintain()``) a few times a second until a stop.
struct MaintenanceService: Service {
    let store: any WebhookStore
    /// While the delivery loop reports the database failing, a failed checkpoint is not logged again.
    let health: StoreHealth
    let logger: Logger
    /// Time between two rounds of housekeeping.
    var interval: Duration = .milliseconds(200)

    func run() async throws {
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await store.maintain()
                failures = 0
            } catch is CancellationError {
                return
            } catch {
                failures += 1
                if health.fault == nil, failures == 1 || failures.isMultiple(of: 100) {
                    logger.warning(
                        "Database checkpoint failed", metadata: ["error": "\(error)", "failures": "\(failures)"])
                }
            }
            try? await Task.sleep(for: interval)
        }
    }
}
