import GRDB
import Testing
import WebhookCore
@testable import WebhookPostgres
import WebhookSQLite
import WebhookStorage
import WebhookTestSupport

/// A fresh database of either backend: a SQLite file in its own temporary folder, or a new
/// database on the shared PostgreSQL test cluster.
///
/// The tests of the store's behaviour run against both through ``store``; the few raw-SQL checks
/// go through ``scalar(_:)``, ``strings(_:)`` and ``execute(_:)`` in SQL both understand.
struct TestDatabase {
    /// The backends a parameterised test runs against.
    enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case sqlite, postgresql
        var testDescription: String { rawValue }
    }

    let backend: Backend
    /// The folder of the SQLite file (unused by PostgreSQL, but made for both so the SQLite-only
    /// tests of other files keep a folder to work in).
    let directory: TemporaryDirectory
    /// The store under test, through the protocol every backend fills.
    let store: any WebhookStore
    /// The same store as SQLite, for the few tests of what only it has (filing, integrity checks).
    let sqlite: SQLiteWebhookStore?
    /// The same store as PostgreSQL.
    let postgres: PostgresWebhookStore?

    /// A SQLite database (the tests of SQLite's own behaviour).
    init() throws {
        directory = try TemporaryDirectory(prefix: "qr3-store")
        let sqlite = try SQLiteWebhookStore(path: directory.file("webhooks.sqlite"))
        self.backend = .sqlite
        self.sqlite = sqlite
        self.postgres = nil
        self.store = sqlite
    }

    private init(directory: TemporaryDirectory, postgres: PostgresWebhookStore) {
        self.backend = .postgresql
        self.directory = directory
        self.sqlite = nil
        self.postgres = postgres
        self.store = postgres
    }

    /// A fresh, migrated database of `backend`.
    static func make(_ backend: Backend) async throws -> TestDatabase {
        switch backend {
        case .sqlite:
            return try TestDatabase()
        case .postgresql:
            let server = try await PostgresTestServer.shared()
            let url = try await server.createDatabase()
            let store = try await PostgresWebhookStore(location: PostgresLocation(url: url))
            return TestDatabase(directory: try TemporaryDirectory(prefix: "qr3-store"), postgres: store)
        }
    }

    /// The SQLite file (meaningful for SQLite only).
    var path: String { directory.file("webhooks.sqlite") }

    // MARK: Raw SQL, in SQL both backends understand

    /// The first column of the first row of `sql` as an integer (0 when there is no row or it is NULL).
    func scalar(_ sql: String) async throws -> Int {
        if let postgres {
            return try await postgres.read { connection in
                let rows = try connection.query(sql)
                return rows.count == 0 ? 0 : rows.int(0, 0)
            }
        }
        return try await DatabaseQueue(path: path).read { db in try Int.fetchOne(db, sql: sql) ?? 0 }
    }

    /// The first column of `sql`'s rows, as text.
    func strings(_ sql: String) async throws -> [String] {
        if let postgres {
            return try await postgres.read { connection in
                let rows = try connection.query(sql)
                return (0..<rows.count).map { rows.string($0, 0) }
            }
        }
        return try await DatabaseQueue(path: path).read { db in try String.fetchAll(db, sql: sql) }
    }

    /// Runs `sql` in a transaction of its own.
    func execute(_ sql: String) async throws {
        if let postgres {
            try await postgres.write { connection in _ = try connection.query(sql) }
            return
        }
        try await DatabaseQueue(path: path).write { db in try db.execute(sql: sql) }
    }

    /// Runs the housekeeping that settles the jobs of enabled, disabled and deleted webhooks in
    /// batches, returning the batches done (both stores have it; it is not on the protocol, since
    /// the daemon reaches it through `maintain()`).
    func settleWebhookJobs() async throws -> Int {
        if let postgres { return try await postgres.settleWebhookJobs() }
        return try await sqlite!.settleWebhookJobs()
    }

    // MARK: Through the store

    func webhook(
        workspace: String = "ws_1",
        url: String = "http://127.0.0.1:9/hook",
        events: [String] = ["*"],
        headers: CustomHeaders = CustomHeaders(),
        now: Timestamp = Timestamp(milliseconds: 1_000)
    ) async throws -> Webhook {
        try await store.createWebhook(
            NewWebhook(
                workspaceID: workspace,
                url: url,
                events: try EventSubscription(validating: events),
                secret: "a-secret-of-sixteen-chars",
                headers: headers
            ),
            now: now
        )
    }

    @discardableResult
    func emit(
        workspace: String = "ws_1",
        type: String = "qr.scanned",
        data: String = #"{"code_id":"qr_1"}"#,
        eventID: String? = nil,
        at time: Timestamp = Timestamp(milliseconds: 1_000)
    ) async throws -> Int64 {
        try await store.enqueue(
            OutboxRow(
                sequence: 0,
                eventID: eventID,
                workspaceID: workspace,
                type: type,
                data: Array(data.utf8),
                createdAt: time
            )
        )
    }

    func ingest(now: Timestamp = Timestamp(milliseconds: 2_000)) async throws -> IngestReport {
        try await store.ingest(limit: 1000, validator: OutboxValidator(), now: now)
    }

    /// Closes the store and removes the folder (a PostgreSQL database stays until the test
    /// cluster is removed at exit).
    func remove() {
        postgres?.close()
        directory.remove()
    }
}

extension DeliveryOutcome {
    static let ok = DeliveryOutcome.answered(status: 200, responseTimeMs: 1)
    static let serverError = DeliveryOutcome.answered(status: 500, responseTimeMs: 1)
}

/// The backends a parameterised test runs against: `@Test(arguments: Backend.allCases)`.
typealias Backend = TestDatabase.Backend
