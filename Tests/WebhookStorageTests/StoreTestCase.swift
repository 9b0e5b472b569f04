import WebhookCore
import WebhookSQLite
import WebhookStorage
import WebhookTestSupport

/// A fresh database file in its own temporary folder.
struct TestDatabase {
    let directory: TemporaryDirectory
    /// The store under test, through the protocol every backend fills.
    var store: any WebhookStore { sqlite }
    /// The same store as SQLite, for the few tests of what only it has (filing, integrity checks).
    let sqlite: SQLiteWebhookStore

    init() throws {
        directory = try TemporaryDirectory(prefix: "qr3-store")
        sqlite = try SQLiteWebhookStore(path: directory.file("webhooks.sqlite"))
    }

    var path: String { directory.file("webhooks.sqlite") }

    func webhook(
        workspace: String = "ws_1",
        url: String = "http://127.0.0.1:9/hook",
        events: [String] = ["*"],
        now: Timestamp = Timestamp(milliseconds: 1_000)
    ) async throws -> Webhook {
        try await store.createWebhook(
            NewWebhook(
                workspaceID: workspace,
                url: url,
                events: try EventSubscription(validating: events),
                secret: "a-secret-of-sixteen-chars"
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

    func remove() { directory.remove() }
}

extension DeliveryOutcome {
    static let ok = DeliveryOutcome.answered(status: 200, responseTimeMs: 1)
    static let serverError = DeliveryOutcome.answered(status: 500, responseTimeMs: 1)
}
