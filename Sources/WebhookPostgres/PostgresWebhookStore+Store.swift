import Logging
import WebhookCore
import WebhookStorage

extension PostgresWebhookStore {
    /// The newest schema version this binary knows.
    public static var schemaVersion: Int { PostgresMigrator.latestVersion }

    /// Once opened, the database is at the latest version (opening migrates or refuses).
    public var schemaVersion: Int { Self.schemaVersion }

    /// Transactions run again after a serialization failure or a deadlock with another daemon.
    public var contendedWrites: Int { database.retriedTransactions.load(ordering: .relaxed) }

    /// A `LISTEN` on the outbox trigger's channel (see ``PostgresChangeWatch``).
    public func watchChanges(onChange: @escaping @Sendable () -> Void, logger: Logger) -> any StoreChangeWatch {
        PostgresChangeWatch(location: location, onChange: onChange, logger: logger)
    }
}

extension PostgresChangeWatch: StoreChangeWatch {}
extension PostgresWebhookStore: WebhookStore {}
