import Foundation
import GRDB
import Testing
import WebhookSQLite
import WebhookStorage
import WebhookTestSupport

/// The real binary under a fake systemd: a notification socket the test owns.
@Suite(.timeLimit(.minutes(2))) struct SystemdNotifyTests {
    @Test func readyWatchdogStatusAndStoppingReachTheNotifySocket() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let receiver = try await TestReceiver.start { request in
            request.header("X-QR3-Event-Id") == "evt_slow"
                ? Response.status(200).delayed(by: .seconds(2)) : .status(200)
        }
        defer { Task { try? await receiver.shutdown() } }
        let webhook = try harness.createWebhook(url: receiver.url)
        let sink = try DatagramSink(address: harness.directory.file("notify"))
        let daemon = try DaemonProcess(
            arguments: harness.baseArguments + ["--status-interval", "0.1"],
            environment: ["NOTIFY_SOCKET": sink.address, "WATCHDOG_USEC": "200000"]
        )
        defer { daemon.stop() }

        // READY=1 once the database is migrated, with a first status line.
        let ready = try await sink.waitFor("READY=1") { $0.contains { $0.text.hasPrefix("READY=1\n") } }
        let migrated = try await harness.producer().read { db in
            try Int.fetchOne(db, sql: "SELECT MAX(version) FROM schema_migrations")
        }
        #expect(migrated == SQLiteWebhookStore.schemaVersion)
        let api = try await daemon.loggedAddress("API listening")
        #expect(try await HTTPGet.fetch("http://\(api)/healthz").status == 200, "the API answers once READY=1 is sent")
        let readyMessage = try #require(ready.first { $0.text.hasPrefix("READY=1\n") }).text
        #expect(readyMessage == "READY=1\nSTATUS=Delivering: 0 in flight, 0 due, 0 delivered/min")

        // WATCHDOG=1 every half of WATCHDOG_USEC (100 ms), from the delivery loop.
        let pings = try await sink.waitFor("six WATCHDOG=1") { $0.filter { $0.text == "WATCHDOG=1" }.count >= 6 }
            .filter { $0.text == "WATCHDOG=1" }
        let average = (pings[5].receivedAt - pings[0].receivedAt) / 5
        #expect(average >= .milliseconds(50), "keep-alives are rate-limited to the interval, not sent on every turn")
        #expect(average <= .milliseconds(200), "keep-alives come often enough for WATCHDOG_USEC=200000")

        // STATUS= follows what the daemon does.
        try harness.insert(Array(repeating: ("ws_test", "qr.created", "{}"), count: 3))
        _ = try await receiver.waitForRequests(count: 3)
        try await sink.waitFor("a status line with 3 deliveries") {
            $0.contains { $0.text == "STATUS=Delivering: 0 in flight, 0 due, 3 delivered/min" }
        }

        // SIGTERM with a request in flight: STOPPING=1, and time asked for the drain.
        try harness.insert([("ws_test", "qr.created", "{}")], eventIDs: ["evt_slow"])
        _ = try await receiver.waitForRequests(count: 4)
        daemon.send(SIGTERM)
        let stopping = try await sink.waitFor("STOPPING=1") { $0.contains { $0.text.hasPrefix("STOPPING=1\n") } }
        let fields = Self.fields(try #require(stopping.first { $0.text.hasPrefix("STOPPING=1\n") }).text)
        #expect(fields["STATUS"] == "Stopping: draining 1 request in flight")
        let extension_ = try #require(fields["EXTEND_TIMEOUT_USEC"].flatMap { Int($0) })
        #expect(extension_ >= 5_000_000 + 10_000_000, "drain-timeout (5 s) plus the margin")
        #expect(try await daemon.waitForExit() == 0)
        #expect(try harness.deliveries(webhook).count == 4, "the request in flight was drained, not dropped")
        let order = sink.datagrams.map(\.text)
        let readyIndex = try #require(order.firstIndex { $0.hasPrefix("READY=1") })
        let stoppingIndex = try #require(order.firstIndex { $0.hasPrefix("STOPPING=1") })
        #expect(readyIndex < stoppingIndex)
        await sink.close()
    }

    @Test func aBlockedDeliveryLoopStopsTheKeepAlives() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let sink = try DatagramSink.abstract()
        let daemon = try DaemonProcess(
            arguments: harness.baseArguments,
            environment: ["NOTIFY_SOCKET": sink.address, "WATCHDOG_USEC": "200000"]
        )
        defer { daemon.stop() }
        try await sink.waitFor("READY=1 and two keep-alives") {
            $0.contains { $0.text.hasPrefix("READY=1") } && $0.filter { $0.text == "WATCHDOG=1" }.count >= 2
        }
        // A producer holds the write lock: the claim loop waits for it and sends no keep-alive, as
        // a hung loop would not; systemd would kill and restart such a daemon after WatchdogSec=.
        let held = Duration.milliseconds(1500)
        let lockedAt = ContinuousClock.now
        try await harness.producer().write { db in
            try db.execute(sql: "INSERT INTO outbox (workspace_id, type, data) VALUES ('ws_test', 'qr.created', '{}')")
            usleep(UInt32(held.components.seconds * 1_000_000 + held.components.attoseconds / 1_000_000_000_000))
        }
        let countAtRelease = sink.datagrams.filter { $0.text == "WATCHDOG=1" }.count
        let after = try await sink.waitFor("keep-alives again after the lock") {
            $0.filter { $0.text == "WATCHDOG=1" }.count >= countAtRelease + 2
        }
        let pings = after.filter { $0.text == "WATCHDOG=1" }.map(\.receivedAt)
        let longestGap = zip(pings, pings.dropFirst()).map { $1 - $0 }.max() ?? .zero
        #expect(longestGap >= held - .milliseconds(300), "no keep-alive while the loop was blocked")
        #expect(pings.contains { $0 > lockedAt + held }, "keep-alives resume once the loop runs again")
        daemon.send(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
        await sink.close()
    }

    @Test func withoutNotifySocketNothingIsSentAndTheDaemonStillStartsAndStops() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let daemon = try await harness.startDaemon(["--status-interval", "0.1"])
        defer { daemon.stop() }
        try await daemon.waitForLog("qr3-webhookd ready")
        #expect(daemon.log.contains("systemd_notify=false"))
        daemon.send(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
    }

    static func fields(_ message: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in message.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return fields
    }
}
