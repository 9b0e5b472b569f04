import Logging
import WebhookSQLite
import WebhookStorage

/// Opens the store a ``DatabaseLocation`` names: the one place that names a concrete store, so
/// the daemon, the API and the command line work with any backend.
public enum WebhookStores {
    /// Opens (creating when missing) the database at `location`, migrating it unless
    /// `options.migrate` is false.
    public static func open(
        _ location: DatabaseLocation, options: StoreOptions = StoreOptions(),
        logger: Logger = Logger(label: "qr3.storage")
    ) throws -> any WebhookStore {
        switch location {
        case .sqlite(let path):
            var sqlite = SQLiteWebhookStore.Options()
            sqlite.migrate = options.migrate
            sqlite.synchronous = options.durableCommits ? "FULL" : "NORMAL"
            sqlite.writeHeld = options.writeHeld
            return try SQLiteWebhookStore(path: path, options: sqlite, logger: logger)
        case .postgresql:
            throw StorageError(
                "PostgreSQL support is not in this build yet: \(location) needs a qr3-webhookd built with it; "
                    + "give --database a path to use SQLite")
        }
    }
}
