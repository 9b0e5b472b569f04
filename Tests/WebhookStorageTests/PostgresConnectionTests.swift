import Logging
import Synchronization
import Testing
import WebhookCore
import WebhookPostgres
import WebhookTestSupport

/// The PostgreSQL plumbing under the store: migrations, the pool, LISTEN/NOTIFY, reconnecting.
@Suite("PostgreSQL connections")
struct PostgresConnectionTests {
    @Test("opening migrates an empty database, and a second open finds it current")
    func openingMigrates() async throws {
        let server = try await PostgresTestServer.shared()
        let url = try await server.createDatabase()
        let store = try await PostgresWebhookStore(location: PostgresLocation(url: url))
        try await store.checkHealth()
        let versions = try await server.psql("SELECT max(version) FROM schema_migrations", database: database(url))
        #expect(versions.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        var options = PostgresWebhookStore.Options()
        options.migrate = false
        _ = try await PostgresWebhookStore(location: PostgresLocation(url: url), options: options)
    }

    @Test("an outbox insert wakes the change watch within its commit")
    func outboxInsertNotifies() async throws {
        let server = try await PostgresTestServer.shared()
        let url = try await server.createDatabase()
        _ = try await PostgresWebhookStore(location: PostgresLocation(url: url))
        let (changes, continuation) = AsyncStream.makeStream(of: Void.self)
        let watch = PostgresChangeWatch(
            location: try PostgresLocation(url: url), onChange: { continuation.yield() },
            logger: Logger(label: "test"))
        let watching = Task { await watch.run() }
        defer { watch.stop() }
        var iterator = changes.makeAsyncIterator()
        // The first wake-up comes once the watch listens (rows committed before are found then).
        _ = await iterator.next()
        try await server.psql(
            "INSERT INTO outbox (workspace_id, type, data) VALUES ('ws_1', 'qr.scanned', '{}')", database: database(url))
        _ = await iterator.next()
        watch.stop()
        await watching.value
    }

    @Test("a password in the URL is used but never printed")
    func passwordIsNotPrinted() throws {
        let location = try PostgresLocation(url: "postgresql://app:s3cr%40t@db.example:6543/webhooks?sslmode=require")
        #expect(!location.description.contains("s3cr"))
        #expect(!location.url.contains("s3cr"))
        #expect(location.description == "postgresql://app@db.example:6543/webhooks")
    }

    @Test("a URL libpq cannot read is refused with its reason")
    func badURL() {
        #expect(throws: PostgresError.self) { try PostgresLocation(url: "postgresql://host:notaport/x?bogus=1") }
    }

    private func database(_ url: String) -> String { String(url.split(separator: "/").last!) }
}
