import Foundation
import GRDB
import Testing
import WebhookStorage
import WebhookTestSupport

@Suite struct MigrationTests {
    @Test func embeddedMigrationsMatchTheFiles() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let generator = root.appendingPathComponent("scripts/embed-migrations").path
        let embedded = root.appendingPathComponent("Sources/WebhookStorage/Migrations+Embedded.swift").path
        let before = try String(contentsOfFile: embedded, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [generator]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let after = try String(contentsOfFile: embedded, encoding: .utf8)
        #expect(before == after, "migrations/ changed: run scripts/embed-migrations and commit the result")
    }

    @Test func migratesOnceAndReopens() async throws {
        let database = try TestDatabase()
        defer { database.remove() }
        _ = try SQLiteWebhookStore(path: database.path)
        let queue = try DatabaseQueue(path: database.path)
        let versions = try await queue.read { db in try Int.fetchAll(db, sql: "SELECT version FROM schema_migrations") }
        #expect(versions == Array(1...SQLiteWebhookStore.schemaVersion))
        #expect(try await database.store.integrityCheck() == ["ok"])
    }

    @Test func refusesADatabaseFromANewerVersion() throws {
        let database = try TestDatabase()
        defer { database.remove() }
        let queue = try DatabaseQueue(path: database.path)
        try queue.write { db in
            try db.execute(sql: "INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future')")
        }
        do {
            _ = try SQLiteWebhookStore(path: database.path)
            Issue.record("a newer schema was accepted")
        } catch {
            #expect("\(error)".contains("newer qr3-webhookd"))
        }
    }

    @Test func databaseFileIsPrivate() throws {
        let database = try TestDatabase()
        defer { database.remove() }
        let attributes = try FileManager.default.attributesOfItem(atPath: database.path)
        let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
        #expect(mode & 0o077 == 0, "database mode is \(String(mode, radix: 8))")
    }

    @Test func schemaRejectsBrokenRows() throws {
        let database = try TestDatabase()
        defer { database.remove() }
        let queue = try DatabaseQueue(path: database.path)
        #expect(throws: DatabaseError.self) {
            try queue.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO webhooks (id, workspace_id, url, events, secret, created_at, updated_at)
                        VALUES ('wh_x', 'ws', 'http://x', '["*"]', 'short', 0, 0)
                        """
                )
            }
        }
    }
}
