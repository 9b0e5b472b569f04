import GRDB
import Synchronization
import Logging
import WebhookCore
import WebhookStorage

#if canImport(Glibc)
    import Glibc
#endif

/// The SQLite implementation of ``WebhookStore``: one database file in WAL mode.
///
/// Durability: connections use `synchronous = NORMAL` in WAL mode. A crash of the process (even
/// `kill -9`) loses nothing that was committed. A power loss or kernel crash can roll back the
/// last transactions since the latest WAL sync; because the WAL is replayed in order, that only
/// returns the database to an earlier consistent state: an event ingested again, or an attempt
/// made again (a duplicate delivery), never a lost event whose producer committed with
/// `synchronous = FULL`.
///
/// Every write is an `IMMEDIATE` transaction (GRDB's default for writes) with a busy timeout,
/// so several processes can share the file.
public final class SQLiteWebhookStore: WebhookStore {
    /// The database connections.
    let pool: DatabasePool
    /// The database file's path.
    public let path: String
    let logger: Logger
    /// How many writes found the database busy past the busy timeout and were tried again.
    public let busyRetries = Atomic<Int>(0)
    /// The longest time one of this store's write transactions held the write lock, in µs.
    public let longestWriteMicroseconds = Atomic<Int>(0)
    private let writeHeld: (@Sendable (Duration) -> Void)?
    /// The `synchronous` setting of the connections (upper case).
    let synchronous: String
    /// The key for derived event ids, read from the database at the first ingest.
    let eventIDKey = EventIDKeyCache()
    /// Where the next claim may start its walk of the due jobs (see ``ClaimCursor``).
    let claimCursor = Mutex<ClaimCursor?>(nil)
    /// The connection `maintain()` checkpoints on, opened at its first use.
    private let checkpointConnection = Mutex<DatabaseQueue?>(nil)
    /// Notices the file being removed or replaced under the open pool (`maintain()` looks).
    private let fileWatch: DatabaseFileWatch

    /// Settings of the SQLite connections.
    public struct Options: Sendable {
        /// How long a write waits for another process's lock before SQLITE_BUSY.
        public var busyTimeout: Duration = .seconds(5)
        /// The `synchronous` pragma: `NORMAL` (the default, see the type's notes) or `FULL`.
        public var synchronous: String = "NORMAL"
        /// Apply pending migrations when opening; `false` refuses an out-of-date schema instead.
        public var migrate: Bool = true
        /// How long opening keeps retrying while another process holds the write lock (each try
        /// first waits `busyTimeout`). Opening may have to write: create the WAL, migrate.
        public var openRetryLimit: Duration = .seconds(60)
        /// Told how long each write transaction held the write lock (from BEGIN to COMMIT), for
        /// the metrics: producers wait for it.
        public var writeHeld: (@Sendable (Duration) -> Void)?
        /// Told the SQL of every statement the connections run, for tests that check what is done.
        public var traceStatements: (@Sendable (String) -> Void)?

        public init() {}
    }

    /// Opens (creating when missing, readable by its owner only) and migrates the database at `path`.
    public init(path: String, options: Options = Options(), logger: Logger = Logger(label: "qr3.storage")) throws {
        self.path = path
        self.logger = logger
        self.writeHeld = options.writeHeld
        self.synchronous = options.synchronous.uppercased()
        try Self.createPrivately(path)
        var configuration = Configuration()
        let timeoutMs =
            Int(options.busyTimeout.components.seconds * 1000)
            + Int(options.busyTimeout.components.attoseconds / 1_000_000_000_000_000)
        configuration.busyMode = .callback(Self.busyHandler(timeoutMs: timeoutMs))
        configuration.journalMode = .wal
        configuration.label = "qr3-webhookd"
        // Readers serve the API and the status figures; four are plenty and bound their caches.
        configuration.maximumReaderCount = 4
        let synchronous = options.synchronous.uppercased()
        guard ["OFF", "NORMAL", "FULL", "EXTRA"].contains(synchronous) else {
            throw StorageError("synchronous must be one of OFF, NORMAL, FULL, EXTRA, not \(options.synchronous)")
        }
        let trace = options.traceStatements
        configuration.prepareDatabase { db in
            if let trace { db.trace(options: .statement) { trace($0.description) } }
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            // Statement journals and sorts in memory, not in temporary files.
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            // Checkpoints run off the write path (`maintain()`, a passive checkpoint on a connection
            // of its own), so a commit never stalls copying and syncing the WAL. The automatic one
            // stays as a backstop at 20000 pages (80 MiB) should that stop.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 20000")
            try db.execute(sql: "PRAGMA journal_size_limit = 67108864")
            // Page caches: 8 MiB for the one writer, 2 MiB for each reader (the API's and the
            // status figures'). Caches fill up to their size as the database grows, so these
            // bound what a large backlog adds to the daemon's memory.
            try db.execute(sql: "PRAGMA cache_size = \(db.configuration.readonly ? -2048 : -8192)")
        }
        pool = try Self.retryingWhileBusy(limit: options.openRetryLimit, logger: logger) {
            let pool: DatabasePool
            do {
                pool = try DatabasePool(path: path, configuration: configuration)
            } catch let error as DatabaseError where error.isBusy {
                throw error
            } catch {
                throw StorageError("cannot open the database \(path): \(error)")
            }
            if options.migrate {
                let applied = try Migrator.migrate(pool)
                for name in applied {
                    logger.info(
                        "Applied database migration", metadata: ["migration": "\(name)", "database": "\(path)"])
                }
            } else {
                let version = try Migrator.currentVersion(pool)
                guard version == Migrator.latestVersion else {
                    throw StorageError(
                        "the database \(path) is at schema version \(version), this binary needs "
                            + "\(Migrator.latestVersion); run `qr3-webhookd migrate`"
                    )
                }
            }
            return pool
        }
        fileWatch = DatabaseFileWatch(path: path)
    }

    /// Runs `body` again with back-off while it fails with SQLITE_BUSY, for up to `limit`.
    ///
    /// For opening only (it blocks the calling thread): a producer's long transaction at the
    /// moment the daemon starts delays the start instead of failing it.
    private static func retryingWhileBusy<T>(limit: Duration, logger: Logger, _ body: () throws -> T) throws -> T {
        let deadline = ContinuousClock.now + limit
        var delayMs = 50
        var attempt = 1
        while true {
            do {
                return try body()
            } catch let error as DatabaseError where error.isBusy && ContinuousClock.now < deadline {
                logger.warning(
                    "Database busy, retrying",
                    metadata: ["attempt": "\(attempt)", "delay_ms": "\(delayMs)", "while": "opening"]
                )
                usleep(UInt32(delayMs) * 1000)
                delayMs = min(delayMs * 2, 1000)
                attempt += 1
            } catch let error as DatabaseError where error.isBusy {
                throw StorageError(
                    "cannot open the database: another process held its write lock for over \(limit): \(error)")
            }
        }
    }

    /// Waits for another connection's write lock in short steps, up to `timeoutMs` in all.
    ///
    /// SQLite's own busy timeout sleeps 1, 2, 5, 10, 15, 20, 25... ms between tries, so a daemon
    /// that meets a producer's lock for a moment loses tens of milliseconds. Write transactions here
    /// last well under a millisecond, so this handler tries again every 50 µs at first, then backs
    /// off to 1 ms and 5 ms steps for locks held long (a backup, a slow producer).
    static func busyHandler(timeoutMs: Int) -> @Sendable (Int) -> Bool {
        { tries in
            let waitedMs: Int
            let stepMicroseconds: UInt32
            switch tries {
            case ..<100:
                waitedMs = tries / 20
                stepMicroseconds = 50
            case ..<300:
                waitedMs = 5 + (tries - 100)
                stepMicroseconds = 1_000
            default:
                waitedMs = 205 + (tries - 300) * 5
                stepMicroseconds = 5_000
            }
            guard waitedMs < timeoutMs else { return false }
            usleep(stepMicroseconds)
            return true
        }
    }

    /// The schema version this binary creates.
    public static var schemaVersion: Int { Migrator.latestVersion }

    /// Once opened, the database is at the latest version (opening migrates or refuses).
    public var schemaVersion: Int { Self.schemaVersion }

    /// ``busyRetries``: writes that met SQLITE_BUSY past the busy timeout.
    public var contendedWrites: Int { busyRetries.load(ordering: .relaxed) }

    /// Creates the file with mode 0600 when it does not exist, so other users cannot read secrets.
    private static func createPrivately(_ path: String) throws {
        let descriptor = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        if descriptor >= 0 {
            close(descriptor)
        } else if errno != EEXIST {
            let reason = String(cString: strerror(errno))
            throw StorageError("cannot create the database file \(path): \(reason)")
        }
    }

    /// Runs `body` in a write transaction, retrying with back-off while the database is busy.
    ///
    /// The time the transaction held the write lock is measured (``Options/writeHeld``), and the
    /// longest one kept in ``longestWriteMicroseconds``.
    ///
    /// A `durable` write (what a user is told succeeded: the API's and the command line's changes)
    /// commits with `synchronous = FULL`, so it survives a power loss even when the daemon's own
    /// writes use `NORMAL`.
    func write<T: Sendable>(durable: Bool = false, _ body: @escaping @Sendable (Database) throws -> T)
        async throws -> T
    {
        try fileWatch.checkOpenFile()
        var delayMs = 5
        var attempt = 1
        let syncFully = durable && synchronous != "FULL" && synchronous != "EXTRA"
        while true {
            do {
                return try await pool.writeWithoutTransaction { db in
                    var began = ContinuousClock.now
                    var result: T?
                    if syncFully { try db.execute(sql: "PRAGMA synchronous = FULL") }
                    defer { if syncFully { try? db.execute(sql: "PRAGMA synchronous = \(self.synchronous)") } }
                    try db.inTransaction(.immediate) {
                        began = .now
                        result = try body(db)
                        return .commit
                    }
                    self.noteWrite(held: .now - began)
                    // inTransaction ran the body, which returned or threw.
                    return result!
                }
            } catch let error as DatabaseError where error.isBusy && attempt < 8 {
                busyRetries.add(1, ordering: .relaxed)
                logger.warning(
                    "Database busy, retrying", metadata: ["attempt": "\(attempt)", "delay_ms": "\(delayMs)"])
                try await Task.sleep(for: .milliseconds(delayMs))
                delayMs = min(delayMs * 2, 500)
                attempt += 1
            }
        }
    }

    /// Records one write transaction's hold of the write lock.
    private func noteWrite(held: Duration) {
        let microseconds = Int(held.components.seconds * 1_000_000 + held.components.attoseconds / 1_000_000_000_000)
        longestWriteMicroseconds.max(microseconds, ordering: .relaxed)
        writeHeld?(held)
    }

    /// Runs `body` on a reader connection.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try fileWatch.checkOpenFile()
        return try await pool.read(body)
    }

    /// Files the delivery log's tail (a short write transaction, see ``foldAttemptLog(limit:)``),
    /// then copies committed WAL frames into the database file with a passive checkpoint, on a
    /// connection of its own, which neither takes the write lock nor delays a commit.
    public func maintain() async throws {
        try fileWatch.verify()
        let connection = try checkpointConnection.withLock { connection in
            if let connection { return connection }
            var configuration = Configuration()
            configuration.label = "qr3-webhookd-checkpoint"
            configuration.busyMode = .timeout(1)
            let created = try DatabaseQueue(path: path, configuration: configuration)
            connection = created
            return created
        }
        // Filed ten thousand at a time (about 10 ms of the write lock each, with a hundred
        // webhooks), so a tail that grew during a burst does not make one long transaction.
        for _ in 0..<10 where try await foldAttemptLog(limit: 10_000) == 10_000 {
            await Task.yield()
        }
        try await settleWebhookJobs()
        try await connection.writeWithoutTransaction { db in
            _ = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)")
        }
    }

    /// Moves up to `limit` attempts from the delivery log's tail into its per-webhook order, in
    /// one transaction, sorted so each webhook's page is written once (see migration 6).
    ///
    /// Safe to run from several processes at once: a row leaves the tail in the transaction that
    /// files it, and filing one twice is ignored. Returns how many moved. An empty tail is seen
    /// with a read: an idle daemon does not take the write lock for it.
    @discardableResult
    public func foldAttemptLog(limit: Int = 50_000) async throws -> Int {
        guard
            try await read({ db in try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM attempt_log_tail)") })
                == true
        else { return 0 }
        return try await write { db in
            guard
                let last = try Int64.fetchOne(
                    db,
                    sql: "SELECT MAX(seq) FROM (SELECT seq FROM attempt_log_tail ORDER BY seq LIMIT ?)",
                    arguments: [limit]
                )
            else { return 0 }
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO attempt_log (webhook_id, id)
                    SELECT webhook_id, id FROM attempt_log_tail WHERE seq <= ? ORDER BY webhook_id, id
                    """,
                arguments: [last]
            )
            try db.execute(sql: "DELETE FROM attempt_log_tail WHERE seq <= ?", arguments: [last])
            return db.changesCount
        }
    }

    /// Runs `PRAGMA integrity_check` and returns its lines ("ok" when sound).
    public func integrityCheck() async throws -> [String] {
        try await read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
    }
}

extension DatabaseError {
    /// True for SQLITE_BUSY and SQLITE_LOCKED: another connection holds a lock; try again later.
    var isBusy: Bool { resultCode == .SQLITE_BUSY || resultCode == .SQLITE_LOCKED }
}
