import Foundation
import GRDB
import Testing
import WebhookCore
@testable import WebhookSQLite
import WebhookStorage
import WebhookTestSupport

@Suite struct MigrationTests {
    @Test func embeddedMigrationsMatchTheFiles() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let generator = root.appendingPathComponent("scripts/embed-migrations").path
        let embedded = [
            "Sources/WebhookSQLite/Migrations+Embedded.swift",
            "Sources/WebhookPostgres/PostgresMigrations+Embedded.swift",
        ].map { root.appendingPathComponent($0).path }
        let before = try embedded.map { try String(contentsOfFile: $0, encoding: .utf8) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [generator]
        try spawning { try process.run() }
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let after = try embedded.map { try String(contentsOfFile: $0, encoding: .utf8) }
        #expect(before == after, "migrations/ changed: run scripts/embed-migrations and commit the result")
    }

    /// A WAL database at `path` made by the first `version` migrations as shipped
    /// (`embeddedMigrationsMatchTheFiles` keeps them equal to the files).
    func databaseAtVersion(_ version: Int, path: String) async throws -> DatabaseQueue {
        let old = try DatabaseQueue(path: path)
        try await old.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        try await old.write { db in
            try db.execute(
                sql: "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT)"
            )
            for migration in Migration.embedded.prefix(version) {
                try db.execute(sql: migration.sql)
                try db.execute(
                    sql: "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                    arguments: [migration.version, migration.name])
            }
        }
        return old
    }

    @Test func migratesOnceAndReopens() async throws {
        let database = try TestDatabase()
        defer { database.remove() }
        _ = try SQLiteWebhookStore(path: database.path)
        let queue = try DatabaseQueue(path: database.path)
        let versions = try await queue.read { db in try Int.fetchAll(db, sql: "SELECT version FROM schema_migrations") }
        // Every embedded migration, gaps included (0010 was written while another branch wrote 0009).
        #expect(versions == Migration.embedded.map(\.version).sorted())
        #expect(versions.last == SQLiteWebhookStore.schemaVersion)
        #expect(try await #require(database.sqlite).integrityCheck() == ["ok"])
    }

    /// A database made by version 7 keeps its events, jobs, outbox rows and outbox sequence;
    /// its event ids become unique per workspace, and its disabled webhooks say who disabled them.
    @Test func version8KeysEventsByWorkspaceAndKeepsEverything() async throws {
        let database = try TestDatabase()
        defer { database.remove() }
        let path = database.directory.file("v7.sqlite")
        let old = try await databaseAtVersion(7, path: path)
        try await old.write { db in
            try db.execute(
                sql: """
                    INSERT INTO webhooks (id, workspace_id, url, events, secret, is_active, consecutive_failures,
                        disabled_reason, disabled_at, created_at, updated_at)
                    VALUES ('wh_1', 'ws', 'http://127.0.0.1:9/', '["*"]', 'a-secret-of-sixteen-chars', 0, 10,
                        '10 consecutive failed attempts', 5, 0, 5),
                        ('wh_2', 'ws', 'http://127.0.0.1:9/', '["*"]', 'a-secret-of-sixteen-chars', 0, 0,
                        'disabled by hand', 5, 0, 5);
                    INSERT INTO events (id, workspace_id, type, payload, created_at, dispatched_at)
                    VALUES ('evt_1', 'ws', 'qr.scanned', x'7b7d', 0, 0);
                    INSERT INTO jobs (event_id, webhook_id, state, available_at, created_at, updated_at)
                    VALUES ('evt_1', 'wh_1', 'paused', 0, 0, 0);
                    INSERT INTO outbox (seq, event_id, workspace_id, type, data) VALUES (41, 'evt_2', 'ws', 'qr.created', '{}');
                    INSERT INTO outbox (seq, event_id, workspace_id, type, data) VALUES (42, 'evt_3', 'ws', 'qr.created', '{}');
                    DELETE FROM outbox WHERE seq = 42;
                    """)
        }
        let store = try SQLiteWebhookStore(path: path)
        #expect(try await store.integrityCheck() == ["ok"])
        try await old.write { db in
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events WHERE id = 'evt_1'") == 1)
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jobs WHERE state = 'paused'") == 1)
            #expect(
                try String.fetchAll(db, sql: "SELECT disabled_by FROM webhooks ORDER BY id") == [
                    "failures", "operator",
                ])
            // The outbox sequence goes on after the highest number ever given, not after the rows left.
            try db.execute(sql: "INSERT INTO outbox (workspace_id, type, data) VALUES ('ws', 'qr.created', '{}')")
            #expect(db.lastInsertedRowID == 43)
            // Another workspace may use an id this one has; the same workspace may not.
            try db.execute(
                sql:
                    "INSERT OR IGNORE INTO outbox (event_id, workspace_id, type, data) VALUES ('evt_2', 'other', 'qr.created', '{}')"
            )
            #expect(db.changesCount == 1)
            try db.execute(
                sql:
                    "INSERT OR IGNORE INTO outbox (event_id, workspace_id, type, data) VALUES ('evt_2', 'ws', 'qr.created', '{}')"
            )
            #expect(db.changesCount == 0)
            try db.execute(
                sql:
                    "INSERT INTO events (id, workspace_id, type, payload, created_at, dispatched_at) VALUES ('evt_1', 'other', 'qr.scanned', x'7b7d', 0, 0)"
            )
            // Jobs name their event within their webhook's workspace; foreign keys stay on for the rest.
            #expect(try Int.fetchOne(db, sql: "PRAGMA foreign_keys") == 1)
            try db.execute(
                sql:
                    "INSERT INTO jobs (event_id, webhook_id, available_at, created_at, updated_at) VALUES ('evt_1', 'wh_2', 0, 0, 0)"
            )
        }
        #expect(try await store.webhook(id: "wh_1", workspaceID: nil)?.heldDeliveries == 1)
    }

    /// A database made by version 8 keeps its webhooks and attempts: no previous secret, no headers
    /// of their own, and attempts without timings or request headers (shown as null).
    @Test func version10AddsRotationHeadersAndTimingsToExistingRows() async throws {
        let database = try TestDatabase()
        defer { database.remove() }
        let path = database.directory.file("v8.sqlite")
        let old = try await databaseAtVersion(8, path: path)
        try await old.write { db in
            try db.execute(
                sql: """
                    INSERT INTO webhooks (id, workspace_id, url, events, secret, created_at, updated_at)
                    VALUES ('wh_1', 'ws', 'http://127.0.0.1:9/', '["*"]', 'a-secret-of-sixteen-chars', 0, 5);
                    INSERT INTO events (id, workspace_id, type, payload, created_at, dispatched_at)
                    VALUES ('evt_1', 'ws', 'qr.scanned', x'7b7d', 0, 0);
                    INSERT INTO jobs (id, event_id, webhook_id, state, attempts, available_at, created_at, updated_at)
                    VALUES (1, 'evt_1', 'wh_1', 'delivered', 1, 0, 0, 0);
                    INSERT INTO attempts (id, job_id, webhook_id, event_id, event_type, attempt, status, status_code,
                        response_time_ms, created_at)
                    VALUES ('whd_1', 1, 'wh_1', 'evt_1', 'qr.scanned', 1, 'success', 200, 3, 1);
                    INSERT INTO attempt_log (webhook_id, id) VALUES ('wh_1', 'whd_1');
                    """)
        }
        let store = try SQLiteWebhookStore(path: path)
        #expect(try await store.integrityCheck() == ["ok"])
        let webhook = try #require(try await store.webhook(id: "wh_1", workspaceID: nil))
        #expect(webhook.headers.isEmpty && webhook.previousSecret == nil)
        #expect(webhook.rotation.signingSecrets(at: .now()) == ["a-secret-of-sixteen-chars"])
        let attempt = try #require(try await store.delivery(id: "whd_1", webhookID: "wh_1", workspaceID: nil))
        #expect(attempt.timings == .none && attempt.remoteAddress == nil && attempt.signedAt == nil)
        let json = DeliveryRepresentation(attempt).json(detailed: true)
        #expect(
            json.hasSuffix(
                #""remote_address":null,"timings":{"name_lookup_ms":null,"connect_ms":null,"tls_ms":null,"first_byte_ms":null,"total_ms":null},"request_headers":null}"#
            ), "\(json)")
        // The schema refuses a previous secret without its expiry, and more than 10 headers.
        try await old.write { db in
            #expect(throws: (any Error).self) {
                try db.execute(sql: "UPDATE webhooks SET previous_secret = 'another-secret-0123' WHERE id = 'wh_1'")
            }
            let eleven = "[" + (0..<11).map { "[\"X-\($0)\",\"v\"]" }.joined(separator: ",") + "]"
            #expect(throws: (any Error).self) {
                try db.execute(sql: "UPDATE webhooks SET headers = ? WHERE id = 'wh_1'", arguments: [eleven])
            }
        }
    }

    /// A database made by version 6 (with a job in it) gets the state check without an IN list,
    /// edited in place, and every connection reads the new definition.
    @Test func version7RewritesTheStateCheckInPlace() async throws {
        let database = try TestDatabase()
        defer { database.remove() }
        let path = database.directory.file("v6.sqlite")
        let old = try await databaseAtVersion(6, path: path)
        try await old.write { db in
            try db.execute(
                sql: """
                    INSERT INTO webhooks (id, workspace_id, url, events, secret, created_at, updated_at)
                    VALUES ('wh_1', 'ws', 'http://127.0.0.1:9/', '["*"]', 'a-secret-of-sixteen-chars', 0, 0);
                    INSERT INTO events (id, workspace_id, type, payload, created_at, dispatched_at)
                    VALUES ('evt_1', 'ws', 'qr.scanned', x'7b7d', 0, 0);
                    INSERT INTO jobs (event_id, webhook_id, available_at, created_at, updated_at)
                    VALUES ('evt_1', 'wh_1', 0, 0, 0);
                    """)
        }
        func jobsDefinition() async throws -> String {
            try await old.read { db in
                try String.fetchOne(db, sql: "SELECT sql FROM sqlite_schema WHERE name = 'jobs'") ?? ""
            }
        }
        func schemaVersion() async throws -> Int {
            try await old.read { db in try Int.fetchOne(db, sql: "PRAGMA schema_version") ?? 0 }
        }
        #expect(
            try await jobsDefinition().contains("state IN ('pending', 'delivered', 'failed', 'paused', 'cancelled')"))
        let versionBefore = try await schemaVersion()

        let store = try SQLiteWebhookStore(path: path)
        #expect(try await store.integrityCheck() == ["ok"])
        let definition = try await jobsDefinition()
        #expect(!definition.contains("state IN ("))
        #expect(
            definition.contains(
                "CHECK (state = 'pending' OR state = 'delivered' OR state = 'failed' OR state = 'paused' OR state = 'cancelled')"
            ))
        // Raised, so the connection opened before (and every other) reads the new definition.
        #expect(try await schemaVersion() > versionBefore)
        #expect(try await old.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jobs") } == 1)
        // The check still holds: every state it allowed, and nothing else.
        try await old.write { db in
            for state in ["delivered", "failed", "paused", "cancelled", "pending"] {
                try db.execute(sql: "UPDATE jobs SET state = ?", arguments: [state])
            }
        }
        await #expect(throws: DatabaseError.self) {
            try await old.write { db in try db.execute(sql: "UPDATE jobs SET state = 'lost'") }
        }
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
