import Foundation
import Logging
import WebhookPostgres
import WebhookSQLite
import WebhookStorage

/// Opens the store a ``DatabaseLocation`` names: the one place that names a concrete store, so
/// the daemon, the API and the command line work with any backend.
public enum WebhookStores {
    /// The environment variable holding the PostgreSQL password.
    public static let passwordVariable = "QR3_WEBHOOKD_DATABASE_PASSWORD"
    /// The environment variable naming a file that holds the PostgreSQL password.
    public static let passwordFileVariable = "QR3_WEBHOOKD_DATABASE_PASSWORD_FILE"

    /// Opens (creating when missing) the database at `location`, migrating it unless
    /// `options.migrate` is false.
    ///
    /// A PostgreSQL password comes from `options.passwordFile`, else the file named by
    /// `QR3_WEBHOOKD_DATABASE_PASSWORD_FILE`, else `QR3_WEBHOOKD_DATABASE_PASSWORD`, else the URL
    /// or libpq's own `PGPASSWORD` and `~/.pgpass`: never the command line, which `ps` shows.
    public static func open(
        _ location: DatabaseLocation, options: StoreOptions = StoreOptions(),
        logger: Logger = Logger(label: "qr3.storage")
    ) async throws -> any WebhookStore {
        switch location {
        case .sqlite(let path):
            var sqlite = SQLiteWebhookStore.Options()
            sqlite.migrate = options.migrate
            sqlite.synchronous = options.durableCommits ? "FULL" : "NORMAL"
            sqlite.writeHeld = options.writeHeld
            return try SQLiteWebhookStore(path: path, options: sqlite, logger: logger)
        case .postgresql(let url):
            var postgres = PostgresWebhookStore.Options()
            postgres.migrate = options.migrate
            postgres.writeHeld = options.writeHeld
            postgres.durableCommits = options.durableCommits
            if let poolSize = options.connections { postgres.poolSize = poolSize }
            let password = try password(file: options.passwordFile)
            return try await PostgresWebhookStore(
                location: PostgresLocation(url: url, password: password), options: postgres,
                openRetryLimit: options.openRetryLimit, logger: logger)
        }
    }

    /// The PostgreSQL password from `file`, or the environment; nil when neither gives one.
    static func password(file: String?) throws -> String? {
        let environment = ProcessInfo.processInfo.environment
        if let file = file ?? environment[passwordFileVariable].flatMap({ $0.isEmpty ? nil : $0 }) {
            guard let contents = FileManager.default.contents(atPath: file) else {
                throw StorageError("cannot read the database password file \(file)")
            }
            let text = String(decoding: contents, as: UTF8.self)
            return String(text.prefix { $0 != "\n" && $0 != "\r" })
        }
        return environment[passwordVariable].flatMap { $0.isEmpty ? nil : $0 }
    }
}
