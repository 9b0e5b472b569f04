import Foundation
import GRDB
import Testing
import WebhookCore
import WebhookPostgres
import WebhookSQLite
import WebhookStorage
import WebhookTestSupport

/// `qr3-webhookd copy`: an SQLite installation moved to PostgreSQL reads the same there, and a
/// daemon on PostgreSQL goes on delivering what was pending and holding what was held.
@Suite(.serialized, .timeLimit(.minutes(5))) struct CopyTests {
    /// An SQLite installation with a bit of everything: an active webhook with custom headers
    /// (one delivered job with its attempt, one leased, one pending), a disabled one holding its
    /// deliveries, a deleted one, two API keys (one revoked), a rejected outbox row and one
    /// outbox row not yet taken in.
    struct Source {
        let directory: TemporaryDirectory
        let store: SQLiteWebhookStore
        let active: Webhook
        let disabled: Webhook
        let deleted: Webhook
        let keys: [APIKeyMaterial]
        var path: String { directory.file("webhooks.sqlite") }

        init(receiverURL: String) async throws {
            let directory = try TemporaryDirectory(prefix: "qr3-copy")
            let store = try SQLiteWebhookStore(path: directory.file("webhooks.sqlite"))
            let now = Timestamp.now()
            func webhook(_ headers: CustomHeaders = CustomHeaders()) async throws -> Webhook {
                try await store.createWebhook(
                    NewWebhook(
                        workspaceID: "ws_test", url: receiverURL, events: try EventSubscription(validating: ["*"]),
                        secret: "test-secret-0123456789", headers: headers),
                    now: now)
            }
            let active = try await webhook(CustomHeaders([.init(name: "Authorization", value: "Bearer copy-me")]))
            var disabled = try await webhook()
            let deleted = try await webhook()
            _ = try await store.updateWebhook(
                id: disabled.id, workspaceID: nil, changes: WebhookChanges(isActive: false), now: now)
            _ = try await store.deleteWebhook(id: deleted.id, workspaceID: nil, now: now)
            let keys = [APIKeyMaterial.generate(), APIKeyMaterial.generate()]
            for (index, key) in keys.enumerated() {
                _ = try await store.createAPIKey(
                    NewAPIKey(workspaceID: "ws_test", name: "key \(index)", material: key), now: now)
            }
            _ = try await store.revokeAPIKey(idOrPrefix: keys[1].prefix, now: now)
            for index in 1...3 { try await Self.emit(store, "evt_\(index)", now: now) }
            _ = try await store.enqueue(
                OutboxRow(
                    sequence: 0, eventID: "evt_bad", workspaceID: "ws_test", type: "qr.scanned",
                    data: Array("not json".utf8), createdAt: now))
            let report = try await store.ingest(limit: 100, validator: OutboxValidator(), now: now)
            #expect(report.rejected.count == 1)
            // Two claimed: one delivered (an attempt in the log), one left in flight.
            let claimed = try await store.claim(
                owner: "old-daemon", limit: 2, perWebhookLimit: 16, lease: .seconds(300), now: now)
            #expect(claimed.count == 2)
            _ = try await store.record(
                [AttemptResult(job: claimed[0], outcome: .answered(status: 200, responseTimeMs: 3), finishedAt: now)],
                rules: DeliveryRules())
            // Taken in after the snapshot a running daemon would have made: still in the outbox.
            try await Self.emit(store, "evt_4", now: now)
            disabled = try #require(try await store.webhook(id: disabled.id, workspaceID: nil))
            (self.directory, self.store, self.keys) = (directory, store, keys)
            (self.active, self.disabled, self.deleted) = (active, disabled, deleted)
        }

        static func emit(_ store: SQLiteWebhookStore, _ eventID: String, now: Timestamp) async throws {
            _ = try await store.enqueue(
                OutboxRow(
                    sequence: 0, eventID: eventID, workspaceID: "ws_test", type: "qr.scanned",
                    data: Array(#"{"code_id":"qr_1"}"#.utf8), createdAt: now))
        }
    }

    /// Runs `qr3-webhookd copy` with `arguments`.
    static func copy(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await runToolInBackground(DaemonProcess.executablePath, ["copy"] + arguments)
    }

    static func summary(_ output: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
    }

    @Test func copiesWebhooksKeysAndQueuedDeliveriesAndADaemonGoesOnFromThere() async throws {
        let receiver = try await TestReceiver.start { _ in .status(200) }
        defer { Task { try? await receiver.shutdown() } }
        let source = try await Source(receiverURL: receiver.url)
        defer { source.directory.remove() }
        let harness = try await PostgresHarness()
        defer { harness.close() }

        let result = try await Self.copy(["--from", source.path, "--to", harness.url])
        #expect(result.status == 0, "copy failed: \(result.stderr)")
        #expect(result.stdout.contains("webhooks: 3 copied"), "\(result.stdout)")
        #expect(result.stdout.contains("jobs: 5 copied"), "\(result.stdout)")
        #expect(result.stdout.contains("the delivery log was not copied"))

        let target = try await PostgresWebhookStore(location: try PostgresLocation(url: harness.url))
        defer { target.close() }
        let listed = try await target.listWebhooks(workspaceID: nil, limit: 100, startingAfter: nil).items
        let expected = try await source.store.listWebhooks(workspaceID: nil, limit: 100, startingAfter: nil).items
        #expect(listed == expected, "the same webhooks: ids, secrets, headers, circuit")
        #expect(listed.map(\.id) == [source.active.id, source.disabled.id].sorted())
        #expect(listed.first { $0.id == source.active.id }?.headers == source.active.headers)
        #expect(listed.first { $0.id == source.disabled.id }?.heldDeliveries == 3)
        #expect(try await harness.count("SELECT count(*) FROM webhooks WHERE deleted_at IS NOT NULL") == 1)
        #expect(try await target.activeAPIKey(hash: source.keys[0].hash)?.prefix == source.keys[0].prefix)
        #expect(try await target.activeAPIKey(hash: source.keys[1].hash) == nil, "a revoked key stays revoked")
        let targetKeys = try await target.listAPIKeys(workspaceID: nil)
        let sourceKeys = try await source.store.listAPIKeys(workspaceID: nil)
        #expect(targetKeys == sourceKeys)
        #expect(try await harness.count("SELECT count(*) FROM jobs WHERE state = 'pending'") == 2)
        #expect(try await harness.count("SELECT count(*) FROM jobs WHERE state = 'paused'") == 3)
        #expect(try await harness.count("SELECT count(*) FROM jobs WHERE lease_owner IS NOT NULL") == 0)
        #expect(try await harness.count("SELECT count(*) FROM outbox") == 1)
        #expect(try await harness.count("SELECT count(*) FROM attempts") == 0, "no log without --with-log")
        #expect(try await harness.count("SELECT count(*) FROM rejected_events") == 0)
        #expect(try await harness.count("SELECT count(*) FROM events") == 3, "the events the queued jobs need")
        let sourceKey = try await DatabaseQueue(path: source.path).read { db in
            try String.fetchOne(db, sql: "SELECT value FROM daemon_settings WHERE name = 'event_id_key'")
        }
        let targetKey = try await harness.database.withConnection {
            try $0.query("SELECT value FROM daemon_settings WHERE name = 'event_id_key'").string(0, 0)
        }
        #expect(sourceKey == targetKey, "derived event ids stay the same")

        // A second copy into the now non-empty target is refused, naming what it holds...
        let refused = try await Self.copy(["--from", source.path, "--to", harness.url])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("not empty") && refused.stderr.contains("3 webhooks"), "\(refused.stderr)")
        // ...and with --into-non-empty skips every row already there.
        let again = try Self.summary(
            try await Self.copy(["--from", source.path, "--to", harness.url, "--into-non-empty", "--json"]).stdout)
        #expect(again["copied"] as? Int == 0)
        #expect(again["skipped"] as? Int == 3 + 2 + 3 + 5 + 1)

        // A daemon on PostgreSQL delivers the pending jobs (the one in flight too) and the event
        // still in the outbox; the disabled webhook's deliveries stay held.
        let daemon = try await harness.startDaemon()
        defer { daemon.stop() }
        let requests = try await receiver.waitForRequests(count: 3, timeout: .seconds(30))
        let delivered = Set(requests.compactMap { $0.header("X-QR3-Event-Id") })
        #expect(delivered.count == 3 && delivered.contains("evt_4"), "\(delivered)")
        #expect(requests.allSatisfy { $0.header("X-QR3-Webhook-Id") == source.active.id })
        #expect(requests.allSatisfy { $0.header("Authorization") == "Bearer copy-me" })
        try await harness.eventually("the copied jobs delivered") {
            try await harness.count("SELECT count(*) FROM jobs WHERE state = 'delivered'") == 3
        }
        #expect(try await harness.count("SELECT count(*) FROM jobs WHERE state = 'paused'") == 4)
        daemon.send(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
        #expect(receiver.requests.count == 3, "nothing delivered twice, nothing held sent")
    }

    @Test func withLogTheDeliveryLogReadsTheSame() async throws {
        let source = try await Source(receiverURL: "http://127.0.0.1:9/hook")
        defer { source.directory.remove() }
        let harness = try await PostgresHarness()
        defer { harness.close() }
        let output = try await Self.copy(["--from", source.path, "--to", harness.url, "--with-log", "--json"])
        #expect(output.status == 0, "copy failed: \(output.stderr)")
        let summary = try Self.summary(output.stdout)
        let tables = try #require(summary["tables"] as? [String: [String: Int]])
        #expect(tables["attempts"]?["copied"] == 1)
        #expect(tables["jobs"]?["copied"] == 6)
        #expect(tables["rejected_events"]?["copied"] == 1)
        #expect(summary["event_id_key_copied"] as? Bool == true)

        let target = try await PostgresWebhookStore(location: try PostgresLocation(url: harness.url))
        defer { target.close() }
        let query = DeliveryQuery(webhookID: source.active.id, workspaceID: nil, limit: 100)
        let log = try await target.deliveries(query).items
        #expect(log.count == 1)
        let sourceLog = try await source.store.deliveries(query).items
        #expect(log == sourceLog)
        let rejected = try await target.rejectedEvents(limit: 10)
        let sourceRejected = try await source.store.rejectedEvents(limit: 10)
        #expect(rejected == sourceRejected)
        // New outbox rows and jobs take ids past the copied ones (and past the rejected row's).
        try await harness.insertEvents(1, prefix: "evt_new_")
        #expect(
            try await harness.count("SELECT count(*) FROM outbox WHERE seq > (SELECT max(seq) FROM rejected_events)")
                == 2)
    }

    @Test func refusesWhatIsNotAnSQLiteFileOrAPostgreSQLURL() async throws {
        let directory = try TemporaryDirectory(prefix: "qr3-copy")
        defer { directory.remove() }
        let missing = try await Self.copy(["--from", directory.file("none.sqlite"), "--to", "postgresql://localhost/x"])
        #expect(missing.status != 0 && missing.stderr.contains("no such file"), "\(missing.stderr)")
        let text = directory.file("notes.txt")
        try "hello".write(toFile: text, atomically: true, encoding: .utf8)
        let notSQLite = try await Self.copy(["--from", text, "--to", "postgresql://localhost/x"])
        #expect(notSQLite.status != 0 && notSQLite.stderr.contains("not an SQLite database"), "\(notSQLite.stderr)")
        let store = try SQLiteWebhookStore(path: directory.file("webhooks.sqlite"))
        _ = store
        let notURL = try await Self.copy([
            "--from", directory.file("webhooks.sqlite"), "--to", directory.file("other.sqlite"),
        ])
        #expect(notURL.status != 0 && notURL.stderr.contains("not a PostgreSQL URL"), "\(notURL.stderr)")
        let password = try await Self.copy([
            "--from", directory.file("webhooks.sqlite"), "--to", "postgresql://someone:hunter2-secret@127.0.0.1:1/x",
        ])
        #expect(password.status != 0)
        #expect(!password.stderr.contains("hunter2-secret") && !password.stdout.contains("hunter2-secret"))
    }

    @Test func copiesThousandsOfJobsInBatches() async throws {
        let directory = try TemporaryDirectory(prefix: "qr3-copy")
        defer { directory.remove() }
        let path = directory.file("webhooks.sqlite")
        let store = try SQLiteWebhookStore(path: path)
        let now = Timestamp.now()
        for _ in 0..<2 {
            _ = try await store.createWebhook(
                NewWebhook(
                    workspaceID: "ws_test", url: "http://127.0.0.1:9/hook",
                    events: try EventSubscription(validating: ["*"]), secret: "test-secret-0123456789"),
                now: now)
        }
        let events = 2_500
        try await DatabaseQueue(path: path).write { db in
            for index in 0..<events {
                try db.execute(
                    sql:
                        "INSERT INTO outbox (event_id, workspace_id, type, data) VALUES (?, 'ws_test', 'qr.scanned', ?)",
                    arguments: ["evt_\(index)", #"{"code_id":"qr_\#(index)"}"#])
            }
        }
        var more = true
        while more { more = try await store.ingest(limit: 1_000, validator: OutboxValidator(), now: now).hasMore }
        let harness = try await PostgresHarness()
        defer { harness.close() }
        let output = try await Self.copy(["--from", path, "--to", harness.url, "--batch-size", "700"])
        #expect(output.status == 0, "copy failed: \(output.stderr)")
        #expect(output.stdout.contains("jobs: \(2 * events) copied"), "\(output.stdout)")
        #expect(try await harness.count("SELECT count(*) FROM jobs WHERE state = 'pending'") == 2 * events)
        #expect(try await harness.count("SELECT count(*) FROM events") == events)
        #expect(
            try await harness.count("SELECT count(*) FROM jobs j JOIN events e ON e.id = j.event_id") == 2 * events)
    }
}
