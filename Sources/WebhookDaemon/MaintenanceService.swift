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
        // While the delivery loop reports the database failing, a failed checkpoint is not logged again.
        await repeatUntilShutdown(
            every: interval, failureMessage: "Database checkpoint failed", logger: logger,
            logsFailures: { health.fault == nil }
        ) {
            try await store.maintain()
        }
    }
}
