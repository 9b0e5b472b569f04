import Logging
import Synchronization
import WebhookCore
import WebhookStorage

/// The PostgreSQL implementation of ``WebhookStore``: several daemons, on several hosts, share
/// one database.
///
/// Every call is one transaction on a pooled connection (READ COMMITTED). Claims lock the jobs
/// they take with `FOR UPDATE SKIP LOCKED`, so daemons claiming at once never wait for each
/// other or take the same job, and carry the same lease and fencing token as the SQLite store: a
/// result whose token no longer matches is dropped. The per-webhook in-flight cap counts the live
/// leases of every daemon. The job rules themselves are ``DeliveryRules``, shared with SQLite.
///
/// A lost connection fails the call with a lost-connection fault; the pool connects again with a
/// back-off. A result that could not be written is written by the delivery loop when the database
/// is back, or, if this daemon stops first, its job is sent again once its lease runs out.
public final class PostgresWebhookStore: Sendable {
    /// The pooled connections (public for `copy`, which writes the tables in bulk).
    public let database: PostgresDatabase
    /// Where the database is (printable: no password).
    public var location: PostgresLocation { database.location }
    let logger: Logger
    /// The key for derived event ids, read from the database at the first ingest.
    let eventIDKey = EventIDKeyCache()
    /// Where the next claim may start its walk of the due jobs (see ``ClaimCursor``).
    let claimCursor = Mutex<ClaimCursor?>(nil)
    /// When `maintain()` last looked whether the queue tables need fresh statistics.
    let analyzedAt = Mutex<ContinuousClock.Instant?>(nil)
    /// Told how long each write transaction took, for the metrics.
    private let writeHeld: (@Sendable (Duration) -> Void)?

    /// Settings of the connections.
    public struct Options: Sendable {
        /// Connections in the pool: the delivery loop, the API's requests and the housekeeping
        /// each take one while they run a transaction.
        public var poolSize: Int = 8
        /// Apply pending migrations when opening; `false` refuses an out-of-date schema instead.
        public var migrate: Bool = true
        /// Told how long each write transaction took (from BEGIN to COMMIT).
        public var writeHeld: (@Sendable (Duration) -> Void)?
        /// Whether every commit waits for the server's WAL flush. Off (the default), the daemon's
        /// own commits use `synchronous_commit = off`, as SQLite's `synchronous = NORMAL`: a crash
        /// of the server loses nothing committed, a power loss may roll back the last commits
        /// (a delivery made again, never an event lost: producers commit with their own
        /// setting). What a user is told succeeded (API and command line changes) is durable
        /// either way.
        public var durableCommits: Bool = false

        public init() {}
    }

    /// Connects to `location` and migrates the schema (or checks it is current).
    ///
    /// Opening waits for the database to accept a connection for up to `openRetryLimit` (a
    /// daemon started with its database server may come up first), then throws.
    public init(
        location: PostgresLocation, options: Options = Options(), openRetryLimit: Duration = .seconds(30),
        logger: Logger = Logger(label: "qr3.storage")
    ) async throws {
        self.logger = logger
        self.writeHeld = options.writeHeld
        database = PostgresDatabase(
            location: location, size: options.poolSize,
            setup: options.durableCommits ? [] : ["SET synchronous_commit = off"], logger: logger)
        let deadline = ContinuousClock.now + openRetryLimit
        var logged = false
        while true {
            do {
                let migrate = options.migrate
                let applied = try await database.withConnection { connection in
                    if migrate { return try PostgresMigrator.migrate(connection) }
                    let version = try PostgresMigrator.currentVersion(connection)
                    guard version == PostgresMigrator.latestVersion else {
                        throw StorageError(
                            "the database schema is at version \(version), this binary needs "
                                + "\(PostgresMigrator.latestVersion): run `qr3-webhookd migrate` first")
                    }
                    return []
                }
                if !applied.isEmpty {
                    logger.notice(
                        "Migrated the PostgreSQL database",
                        metadata: ["database": "\(location)", "applied": "\(applied.joined(separator: ","))"])
                }
                return
            } catch let error as PostgresError where error.connectionLost && ContinuousClock.now < deadline {
                if !logged {
                    logger.notice(
                        "Waiting for PostgreSQL to accept connections",
                        metadata: ["database": "\(location)", "error": "\(error)"])
                    logged = true
                }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    /// Runs `body` in a write transaction; a `durable` one's commit waits for the WAL flush
    /// whatever the connections' setting (what the API and the command line report as done).
    func write<T: Sendable>(durable: Bool = false, _ body: @escaping @Sendable (PostgresConnection) throws -> T)
        async throws -> T
    {
        let started = ContinuousClock.now
        defer { writeHeld?(ContinuousClock.now - started) }
        guard durable else { return try await database.transaction(body) }
        return try await database.transaction { connection in
            try connection.execute("SET LOCAL synchronous_commit = on")
            return try body(connection)
        }
    }

    /// Runs `body` in a read-only transaction (one snapshot for its statements).
    func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await database.withConnection { connection in
            try connection.inTransaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
        }
    }

    /// Wakes the daemons listening (new work they may claim: a retry, a webhook enabled).
    static func notifyDaemons(_ connection: PostgresConnection) throws {
        try connection.query("SELECT pg_notify($1, '')", [.text(PostgresChangeWatch.channel)])
    }

    /// Closes the pool's connections.
    public func close() {
        database.close()
    }

    public func checkHealth() async throws {
        _ = try await database.withConnection { try $0.query("SELECT 1").count }
    }

    public func fault(of error: any Error) -> StoreFault {
        StoreFault(postgres: error)
    }
}

extension StoreFault {
    /// The fault behind an error a PostgreSQL store threw, read as an operator would.
    public init(postgres error: any Error) {
        guard let error = error as? PostgresError else {
            self.init(.other, detail: "\(error)")
            return
        }
        if error.connectionLost {
            self.init(.connectionLost, detail: error.message)
            return
        }
        let kind: Kind =
            switch error.sqlState {
            case "53100": .diskFull
            case "58030": .ioError
            case "25006", "42501": .readOnly
            case "55P03", "40001", "40P01", "57014": .busy
            case let state? where state.hasPrefix("08") || state.hasPrefix("57P"): .connectionLost
            default: .other
            }
        self.init(kind, detail: error.description)
    }
}
