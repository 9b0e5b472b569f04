import Foundation
import GRDB
import Logging
import WebhookPostgres
import WebhookSQLite
import WebhookStorage

/// Copies an SQLite database into PostgreSQL (`qr3-webhookd copy`): moving an installation.
///
/// The source is read in one SQLite read transaction, a consistent snapshot: what a daemon still
/// running on it delivers or takes in afterwards is not copied, so stop it first. The target is
/// written in one PostgreSQL transaction, in batches of a few thousand rows per statement
/// (`INSERT ... SELECT * FROM unnest($1::text[], ...)`), so a million jobs copy without being held
/// in memory and a failed copy leaves the target as it was. See ``CopiedTable/plan(withLog:now:)``
/// for what is copied.
public struct StoreCopy: Sendable {
    /// What to copy and how.
    public struct Options: Sendable {
        /// Also copy the delivery log: every attempt, finished jobs and their events, rejected rows.
        public var withLog = false
        /// Copy into a target that already holds webhooks, keys, jobs or outbox rows; rows whose
        /// key is already there are skipped (and counted).
        public var intoNonEmpty = false
        /// Rows per INSERT statement (fewer when the rows are large).
        public var batchSize = 2_000
        /// The file holding the PostgreSQL password (else the environment, the URL or libpq's own).
        public var passwordFile: String?

        public init() {}
    }

    /// A table done, or a step of a long one.
    public struct Progress: Sendable {
        public let table: String
        public let copied: Int
        public let skipped: Int
        /// Whether the table is finished (else more batches follow).
        public let finished: Bool
    }

    /// Most bytes of values one statement carries, whatever ``Options/batchSize`` says.
    static let batchBytes = 8 << 20

    /// The SQLite database file to read.
    public let source: String
    /// The `postgresql://` URL to write (any password in it is used, never printed).
    public let target: String
    public let options: Options

    public init(from source: String, to target: String, options: Options = Options()) {
        self.source = source
        self.target = target
        self.options = options
    }

    /// Copies, calling `progress` after each table (and every hundred thousand rows of a large one).
    ///
    /// - Throws: ``StoreCopyRefusal`` when the source is not a current qr3-webhookd SQLite file,
    ///   the target is not a `postgresql://` URL, or the target is not empty (unless
    ///   ``Options/intoNonEmpty``); database errors otherwise (nothing is written then).
    public func run(
        logger: Logger = Logger(label: "qr3.copy"), progress: @escaping @Sendable (Progress) -> Void = { _ in }
    ) async throws -> StoreCopyReport {
        let started = ContinuousClock.now
        let reader = try openSource()
        guard PostgresLocation.isURL(target) else {
            throw StoreCopyRefusal(
                "--to \"\(DatabaseLocation.postgresql(url: target))\" is not a PostgreSQL URL: give one like "
                    + "postgresql://user@host:5432/database")
        }
        let location = try PostgresLocation(
            url: target, password: try WebhookStores.password(file: options.passwordFile))
        var storeOptions = PostgresWebhookStore.Options()
        storeOptions.poolSize = 1
        // Opening migrates the target's schema.
        let store: PostgresWebhookStore
        do {
            store = try await PostgresWebhookStore(
                location: location, options: storeOptions, openRetryLimit: .seconds(5), logger: logger)
        } catch {
            throw StoreCopyRefusal("cannot open the target \(location): \(error)")
        }
        defer { store.close() }
        let options = options
        let source = source
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var report = try await store.database.transaction { connection in
            let holdings = try Self.holdings(connection)
            if !holdings.isEmpty, !options.intoNonEmpty {
                throw StoreCopyRefusal(
                    "the target \(location) is not empty: it holds \(holdings.joined(separator: ", ")). "
                        + "Copy into an empty database, or pass --into-non-empty to add to it "
                        + "(rows whose key is already there are skipped)")
            }
            return try reader.inDatabase { db in
                var report = StoreCopyReport(
                    source: source, target: location.description, tables: [], eventIDKeyCopied: false,
                    elapsed: .zero)
                // One read transaction: every table comes from the same snapshot.
                try db.inTransaction(.deferred) {
                    report.eventIDKeyCopied = try Self.copySettings(
                        db, connection, replacing: holdings.isEmpty)
                    for table in CopiedTable.plan(withLog: options.withLog, now: now) {
                        report.tables.append(
                            try Self.copy(table, db, connection, batchSize: options.batchSize, progress: progress))
                    }
                    try Self.advanceSequences(db, connection)
                    return .commit
                }
                return report
            }
        }
        report.elapsed = ContinuousClock.now - started
        return report
    }

    /// The SQLite source, read-only, after checking it is a qr3-webhookd database at the
    /// schema version this binary writes.
    private func openSource() throws -> DatabaseQueue {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw StoreCopyRefusal("--from \(source): no such file; give the SQLite database file the daemon used")
        }
        guard let handle = FileHandle(forReadingAtPath: source) else {
            throw StoreCopyRefusal("--from \(source): cannot read the file (check its permissions)")
        }
        let header = (try? handle.read(upToCount: 16)) ?? nil
        try? handle.close()
        guard header == Data("SQLite format 3\0".utf8) else {
            throw StoreCopyRefusal("--from \(source) is not an SQLite database file")
        }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(5)
        let reader = try DatabaseQueue(path: source, configuration: configuration)
        let version = try reader.read { db -> Int? in
            guard try db.tableExists("schema_migrations") else { return nil }
            return try Int.fetchOne(db, sql: "SELECT MAX(version) FROM schema_migrations") ?? 0
        }
        guard let version else {
            throw StoreCopyRefusal("--from \(source) is an SQLite file but not a qr3-webhookd database")
        }
        let latest = SQLiteWebhookStore.schemaVersion
        if version < latest {
            throw StoreCopyRefusal(
                "--from \(source) is at schema version \(version), this binary copies version \(latest): "
                    + "run `qr3-webhookd migrate --database \(source)` first")
        }
        if version > latest {
            throw StoreCopyRefusal(
                "--from \(source) is at schema version \(version), written by a newer qr3-webhookd: copy with that binary"
            )
        }
        return reader
    }

    /// What the target holds that makes it non-empty, e.g. `["3 webhooks", "12 jobs"]`.
    static func holdings(_ connection: PostgresConnection) throws -> [String] {
        let rows = try connection.query(
            """
            SELECT (SELECT count(*) FROM webhooks), (SELECT count(*) FROM api_keys),
                   (SELECT count(*) FROM jobs), (SELECT count(*) FROM outbox)
            """)
        let names = [("webhook", "webhooks"), ("API key", "API keys"), ("job", "jobs"), ("outbox row", "outbox rows")]
        return names.enumerated().compactMap { index, name in
            let count = rows.int(0, index)
            return count == 0 ? nil : "\(count) \(count == 1 ? name.0 : name.1)"
        }
    }

    /// Copies `daemon_settings` (the event-id key): replacing the target's on an empty target, so
    /// ids derived for a producer's rows stay the same; else keeping the target's. Returns whether
    /// the target's key is now the source's.
    static func copySettings(_ db: Database, _ connection: PostgresConnection, replacing: Bool) throws -> Bool {
        let settings = try Row.fetchAll(db, sql: "SELECT name, value FROM daemon_settings ORDER BY name").map {
            (text(of: $0[0]) ?? "", text(of: $0[1]) ?? "")
        }
        let conflict = replacing ? "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value" : "ON CONFLICT DO NOTHING"
        try connection.query(
            "INSERT INTO daemon_settings (name, value) SELECT * FROM unnest($1::text[], $2::text[]) \(conflict)",
            [.texts(settings.map(\.0)), .texts(settings.map(\.1))])
        guard let key = settings.first(where: { $0.0 == "event_id_key" })?.1 else { return false }
        let rows = try connection.query("SELECT value FROM daemon_settings WHERE name = 'event_id_key'")
        return rows.count == 1 && rows.string(0, 0) == key
    }

    /// Copies one table in batches; returns its figures.
    static func copy(
        _ table: CopiedTable, _ db: Database, _ connection: PostgresConnection, batchSize: Int,
        progress: @Sendable (Progress) -> Void
    ) throws -> StoreCopyReport.Table {
        var figures = StoreCopyReport.Table(name: table.name, copied: 0, skipped: 0)
        var columns = [[String?]](repeating: [], count: table.columns.count)
        var rowsInBatch = 0
        var bytesInBatch = 0
        var reported = 0
        func flush() throws {
            guard rowsInBatch > 0 else { return }
            let written = try connection.query(table.insert, columns.map { .texts($0) }).affected
            figures.copied += written
            figures.skipped += rowsInBatch - written
            for index in columns.indices { columns[index].removeAll(keepingCapacity: true) }
            (rowsInBatch, bytesInBatch) = (0, 0)
            if figures.copied + figures.skipped - reported >= 100_000 {
                reported = figures.copied + figures.skipped
                progress(Progress(table: table.name, copied: figures.copied, skipped: figures.skipped, finished: false))
            }
        }
        let rows = try Row.fetchCursor(db, sql: table.select)
        while let row = try rows.next() {
            for index in columns.indices {
                let value = text(of: row[index])
                bytesInBatch += value?.utf8.count ?? 0
                columns[index].append(value)
            }
            rowsInBatch += 1
            if rowsInBatch >= batchSize || bytesInBatch >= batchBytes { try flush() }
        }
        try flush()
        progress(Progress(table: table.name, copied: figures.copied, skipped: figures.skipped, finished: true))
        return figures
    }

    /// Sets the target's `jobs.id` and `outbox.seq` sequences past every id copied, and past the
    /// ids SQLite handed out before (a job an attempt names, an outbox row since taken in or
    /// rejected): new rows never take an id the log or the rejected rows already use.
    static func advanceSequences(_ db: Database, _ connection: PostgresConnection) throws {
        let jobsHigh =
            try Int64.fetchOne(
                db,
                sql:
                    "SELECT max(coalesce((SELECT max(id) FROM jobs), 0), coalesce((SELECT max(job_id) FROM attempts), 0))"
            )
            ?? 0
        let outboxHigh =
            try Int64.fetchOne(
                db,
                sql: """
                    SELECT max(coalesce((SELECT max(seq) FROM outbox), 0),
                               coalesce((SELECT max(seq) FROM rejected_events), 0),
                               coalesce((SELECT max(seq) FROM sqlite_sequence WHERE name = 'outbox'), 0))
                    """) ?? 0
        for (table, column, high, alsoFrom) in [
            ("jobs", "id", jobsHigh, "(SELECT max(job_id) FROM attempts)"),
            ("outbox", "seq", outboxHigh, "(SELECT max(seq) FROM rejected_events)"),
        ] {
            try connection.query(
                """
                SELECT setval(s, n) FROM (
                    SELECT s, GREATEST(pg_sequence_last_value(s::regclass), (SELECT max(\(column)) FROM \(table)),
                                       \(alsoFrom), $1::bigint) AS n
                    FROM (SELECT pg_get_serial_sequence('\(table)', '\(column)') AS s) AS sequence
                ) AS target WHERE n > 0
                """, [.int(high)])
        }
    }

    /// A SQLite value as the text PostgreSQL reads for a `text` or an integer column.
    static func text(of value: DatabaseValue) -> String? {
        switch value.storage {
        case .null: nil
        case .int64(let integer): String(integer)
        case .double(let double):
            double.rounded() == double && abs(double) < 9e18 ? String(Int64(double)) : String(double)
        case .string(let string): string
        case .blob(let data): String(decoding: data, as: UTF8.self)
        }
    }
}
