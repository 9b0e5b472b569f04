import Testing
import WebhookStorage
import WebhookStores
import WebhookTestSupport

@Suite struct DatabaseLocationTests {
    @Test func aPathOrAnSQLiteOrFileURLNamesAnSQLiteFile() throws {
        #expect(try DatabaseLocation(parsing: "qr3-webhookd.sqlite") == .sqlite(path: "qr3-webhookd.sqlite"))
        #expect(try DatabaseLocation(parsing: "/var/lib/x.sqlite") == .sqlite(path: "/var/lib/x.sqlite"))
        #expect(try DatabaseLocation(parsing: "sqlite:data/x.sqlite") == .sqlite(path: "data/x.sqlite"))
        #expect(try DatabaseLocation(parsing: "sqlite:///var/lib/x.sqlite") == .sqlite(path: "/var/lib/x.sqlite"))
        #expect(try DatabaseLocation(parsing: "file:///var/lib/x.sqlite") == .sqlite(path: "/var/lib/x.sqlite"))
        #expect(try DatabaseLocation(parsing: "/var/lib/x.sqlite").filePath == "/var/lib/x.sqlite")
    }

    @Test func aPostgresURLNamesAServerAndIsShownWithoutItsPassword() throws {
        let url = "postgresql://qr3:s3cret@db.internal:5432/webhooks?sslmode=require"
        let location = try DatabaseLocation(parsing: url)
        #expect(location == .postgresql(url: url))
        #expect(location.filePath == nil)
        #expect(location.description == "postgresql://qr3:***@db.internal:5432/webhooks?sslmode=require")
        #expect(try DatabaseLocation(parsing: "postgres://db/webhooks").description == "postgres://db/webhooks")
    }

    @Test func anEmptyPathIsRefused() {
        #expect(throws: StorageError.self) { try DatabaseLocation(parsing: "sqlite:") }
        #expect(throws: StorageError.self) { try DatabaseLocation(parsing: "") }
    }

    @Test func theFactoryOpensEachBackendFromItsLocation() async throws {
        let directory = try TemporaryDirectory(prefix: "qr3-location")
        defer { directory.remove() }
        let sqlite = try await WebhookStores.open(.sqlite(path: directory.file("webhooks.sqlite")))
        try await sqlite.checkHealth()
        #expect(sqlite.schemaVersion > 0)
        let server = try await PostgresTestServer.shared()
        let postgres = try await WebhookStores.open(.postgresql(url: try await server.createDatabase()))
        try await postgres.checkHealth()
        #expect(postgres.schemaVersion == 1)
    }

    @Test func aServerThatDoesNotAnswerIsReportedWithoutItsPassword() async throws {
        // A port nothing listens on: opening waits for the server, then says what failed.
        let port = try PostgresTestServer.freePort()
        var options = StoreOptions()
        options.openRetryLimit = .milliseconds(300)
        let error = await #expect(throws: (any Error).self) {
            try await WebhookStores.open(
                .postgresql(url: "postgresql://qr3:s3cret@127.0.0.1:\(port)/webhooks"), options: options)
        }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("127.0.0.1"))
        #expect(!text.contains("s3cret"))
    }
}
