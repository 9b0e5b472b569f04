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

    @Test func theFactoryOpensSQLiteAndSaysPostgreSQLIsNotInThisBuild() async throws {
        let directory = try TemporaryDirectory(prefix: "qr3-location")
        defer { directory.remove() }
        let store = try WebhookStores.open(.sqlite(path: directory.file("webhooks.sqlite")))
        try await store.checkHealth()
        #expect(store.schemaVersion > 0)
        let error = #expect(throws: StorageError.self) {
            try WebhookStores.open(.postgresql(url: "postgresql://qr3:s3cret@db/webhooks"))
        }
        #expect(error?.message.contains("PostgreSQL support is not in this build yet") == true)
        #expect(error?.message.contains("s3cret") == false)
    }
}
