import Foundation
import GRDB
import Testing
import WebhookCore
import WebhookTestSupport

/// Several daemons and several producer processes on one database file: leases keep each job
/// with one worker, producers with the documented settings never see `database is locked`, and
/// a daemon that finds the database locked past its busy timeout waits and carries on.
@Suite(.timeLimit(.minutes(3))) struct SharedDatabaseTests {
    @Test(arguments: [2, 4])
    func daemonsAndFullSpeedProducersShareOneDatabase(daemons daemonCount: Int) async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let receivers = try await (0..<3).asyncMap { _ in
            try await TestReceiver.start { _ in Response.status(200).delayed(by: .milliseconds(Int64.random(in: 0...5)))
            }
        }
        defer { Task { for receiver in receivers { try? await receiver.shutdown() } } }
        var receiverOfWebhook: [String: Int] = [:]
        for (index, receiver) in receivers.enumerated() {
            receiverOfWebhook[try await harness.addWebhook(url: receiver.url)] = index
        }
        // A small per-webhook cap shared by every process: no daemon can take every job before the others look.
        var daemons: [DaemonProcess] = []
        defer { for daemon in daemons { daemon.stop() } }
        for _ in 0..<daemonCount {
            daemons.append(
                try await harness.startDaemon([
                    "--per-webhook-concurrency", "4", "--concurrency", "16", "--poll-interval", "0.02", "--log-level",
                    "info",
                ])
            )
        }

        // Two producer processes inserting as fast as they can while the daemons work.
        let perProducer = 1000
        let producers = try (0..<2).map { index in
            try DaemonProcess(
                executable: "/usr/bin/env",
                arguments: [
                    "python3", fixtures.appendingPathComponent("producers/producer.py").path, harness.databasePath,
                    "evt_p\(index)_", String(perProducer), "ws_test", "20",
                ]
            )
        }
        defer { for producer in producers { producer.stop() } }
        for producer in producers {
            #expect(try await producer.waitForExit(timeout: .seconds(120)) == 0, "producer: \(producer.log)")
        }
        for producer in producers {
            try await harness.eventually(timeout: .seconds(5), "the producer's summary") {
                producer.standardOutput.hasSuffix("\n")
            }
            let summary = try JSONSerialization.jsonObject(with: Data(producer.standardOutput.utf8)) as? [String: Any]
            #expect(summary?["inserted"] as? Int == perProducer)
            #expect(
                (summary?["errors"] as? [String])?.isEmpty == true,
                "a producer saw errors: \(summary?["errors"] ?? "-")")
        }

        let expected = 2 * perProducer * receivers.count
        try await harness.eventually(timeout: .seconds(120), "\(expected) jobs delivered") {
            try harness.count("SELECT COUNT(*) FROM jobs WHERE state = 'delivered'") == expected
        }
        var pairs: [String: Int] = [:]
        for (index, receiver) in receivers.enumerated() {
            for request in receiver.requests {
                let webhook = request.header("X-QR3-Webhook-Id") ?? "-"
                #expect(receiverOfWebhook[webhook] == index)
                pairs["\(webhook) \(request.header("X-QR3-Event-Id") ?? "-")", default: 0] += 1
            }
        }
        #expect(pairs.count == expected, "every (event, webhook) pair delivered")
        let twice = pairs.filter { $0.value > 1 }
        #expect(twice.isEmpty, "\(twice.count) pairs were delivered more than once, e.g. \(twice.first?.key ?? "")")
        let attempts = try harness.producer().read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT COUNT(*) AS n, COUNT(DISTINCT job_id) AS jobs, SUM(status = 'success') AS ok FROM attempts"
            )
        }
        #expect(
            attempts?["n"] as Int? == expected && attempts?["jobs"] as Int? == expected
                && attempts?["ok"] as Int? == expected)

        for daemon in daemons { daemon.send(SIGTERM) }
        for daemon in daemons {
            #expect(try await daemon.waitForExit() == 0)
            #expect(
                !daemon.log.contains("<3>") && !daemon.log.contains("<2>"), "a daemon logged an error:\n\(daemon.log)")
        }
        let owners = try await harness.producer().read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jobs WHERE lease_owner IS NOT NULL")
        }
        #expect(owners == 0)
    }

    /// A producer holds the write lock longer than the daemon's busy timeout: the daemon's writes
    /// fail with SQLITE_BUSY, are retried with back-off, and the event goes out once the lock is released.
    @Test func aLockHeldPastTheBusyTimeoutIsWaitedOutNotFatal() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        // The first event's answer takes a moment, so its result is waiting to be recorded
        // when the lock is taken: recording, ingest and claiming all meet SQLITE_BUSY.
        let receiver = try await TestReceiver.start { request in
            request.header("X-QR3-Event-Id") == "evt_in_flight"
                ? Response.status(200).delayed(by: .milliseconds(500)) : .status(200)
        }
        defer { Task { try? await receiver.shutdown() } }
        let webhook = try await harness.addWebhook(url: receiver.url)
        // A lease longer than the lock is held: this test is about busy, not lost leases.
        let daemon = try await harness.startDaemon(["--log-level", "info", "--lease", "30"])
        defer { daemon.stop() }
        try harness.insert([("ws_test", "qr.created", "{}")], eventIDs: ["evt_in_flight"])
        _ = try await receiver.waitForRequests(count: 1)

        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.allowsUnsafeTransactions = true
        let locker = try DatabaseQueue(path: harness.databasePath, configuration: configuration)
        try await locker.writeWithoutTransaction { db in
            try db.execute(sql: "BEGIN IMMEDIATE")
            try db.execute(
                sql:
                    "INSERT INTO outbox (event_id, workspace_id, type, data) VALUES ('evt_locked', 'ws_test', 'qr.created', '{}')"
            )
        }
        // The daemon's next write waits its 5 s busy timeout, gets SQLITE_BUSY and tries again.
        try await daemon.waitForLog("Database busy, retrying", timeout: .seconds(30))
        #expect(receiver.requests.count == 1)
        try await locker.writeWithoutTransaction { db in try db.execute(sql: "COMMIT") }

        let requests = try await receiver.waitForRequests(count: 2, timeout: .seconds(30))
        #expect(requests.map { $0.header("X-QR3-Event-Id") } == ["evt_in_flight", "evt_locked"])
        try await harness.eventually("both attempts recorded") {
            try harness.count("SELECT COUNT(*) FROM attempts WHERE webhook_id = ?", [webhook]) == 2
        }
        let log = try await harness.deliveryLog(webhook)
        #expect(log.count == 2 && log.allSatisfy { $0["status"] as? String == "success" }, "\(log)")
        #expect(daemon.exitStatus == nil)
        #expect(!daemon.log.contains("<3>") && !daemon.log.contains("<2>"), "busy is not an error:\n\(daemon.log)")
        daemon.send(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
        #expect(receiver.requests.count == 2, "nothing was sent twice")
    }
}

extension SharedDatabaseTests {
    /// A daemon started while a producer holds the write lock on a database with no WAL content
    /// yet (opening it must write) waits for the lock instead of failing at start.
    @Test func aDaemonStartedWhileTheWriteLockIsHeldWaitsForIt() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let receiver = try await TestReceiver.start()
        defer { Task { try? await receiver.shutdown() } }
        _ = try await harness.addWebhook(url: receiver.url)

        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.allowsUnsafeTransactions = true
        let locker = try DatabaseQueue(path: harness.databasePath, configuration: configuration)
        try await locker.writeWithoutTransaction { db in
            try db.execute(sql: "BEGIN IMMEDIATE")
            try db.execute(
                sql:
                    "INSERT INTO outbox (event_id, workspace_id, type, data) VALUES ('evt_held', 'ws_test', 'qr.created', '{}')"
            )
        }
        let daemon = try DaemonProcess(arguments: harness.baseArguments + ["--log-level", "info"])
        defer { daemon.stop() }
        try await daemon.waitForLog("Database busy, retrying", timeout: .seconds(30))
        #expect(daemon.exitStatus == nil, "the daemon waits for the lock:\n\(daemon.log)")
        try await locker.writeWithoutTransaction { db in try db.execute(sql: "COMMIT") }

        try await daemon.waitForLog("qr3-webhookd started")
        let request = try #require(try await receiver.waitForRequests(count: 1, timeout: .seconds(30)).first)
        #expect(request.header("X-QR3-Event-Id") == "evt_held")
        #expect(!daemon.log.contains("<3>") && !daemon.log.contains("<2>"), "busy is not an error:\n\(daemon.log)")
        daemon.send(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
    }
}

extension Sequence {
    /// `map` with an async transform, one element after the other.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
