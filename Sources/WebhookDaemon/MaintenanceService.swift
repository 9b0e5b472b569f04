import Logging
import ServiceLifecycle
import WebhookStorage

/// Runs the store's housekeeping (``WebhookStore/maintain()``) a few times a second until a stop.
struct MaintenanceService: Service {
    let store: any WebhookStore
    let logger: Logger
    /// Time between two rounds of housekeeping.
    var interval: Duration = .milliseconds(200)

    func run() async throws {
        await repeatUntilShutdown(every: interval, failureMessage: "Database checkpoint failed", logger: logger) {
            try await store.maintain()
        }
    }
}
