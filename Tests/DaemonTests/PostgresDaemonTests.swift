import Foundation
import Synchronization
import Testing
import WebhookTestSupport

/// Several daemons on one PostgreSQL database, as several hosts run them: each (event, webhook)
/// pair is delivered once while leases hold, SIGKILLs lose nothing, a receiver's outage costs no
/// event, and a restart of the database server costs no event and no daemon.
@Suite(.serialized, .timeLimit(.minutes(5))) struct PostgresDaemonTests {
    @Test func threeDaemonsDeliverEveryPairOnce() async throws {
        let harness = try await PostgresHarness()
        defer { harness.close() }
        var receivers: [TestReceiver] = []
        defer { Task { [receivers] in for receiver in receivers { try? await receiver.shutdown() } } }
        var receiverOfWebhook: [String: Int] = [:]
        for index in 0..<3 {
            let receiver = try await TestReceiver.start { _ in
                Response.status(200).delayed(by: .milliseconds(Int64.random(in: 0...5)))
            }
            receivers.append(receiver)
            receiverOfWebhook[try await harness.addWebhook(url: receiver.url)] = index
        }
        var daemons: [DaemonProcess] = []
        defer { for daemon in daemons { daemon.stop() } }
        for _ in 0..<3 {
            daemons.append(
                try await harness.startDaemon(["--per-webhook-concurrency", "4", "--concurrency", "16"]))
        }
        // Producers insert while the daemons work: 20 transactions of 50 events.
        for batch in 0..<20 { try await harness.insertEvents(50, prefix: "evt_\(batch)_") }
        let expected = 1000 * receivers.count
        try await harness.eventually("\(expected) jobs delivered") {
            try await harness.count("SELECT count(*) FROM jobs WHERE state = 'delivered'") == expected
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
        #expect(try await harness.count("SELECT count(*) FROM attempts WHERE status = 'success'") == expected)
        #expect(try await harness.count("SELECT count(DISTINCT job_id) FROM attempts") == expected)
        for daemon in daemons { daemon.send(SIGTERM) }
        for daemon in daemons {
            #expect(try await daemon.waitForExit() == 0)
            #expect(!daemon.log.contains("<3>") && !daemon.log.contains("<2>"), "a daemon logged an error:\n\(daemon.log)")
        }
        #expect(try await harness.count("SELECT count(*) FROM jobs WHERE lease_owner IS NOT NULL") == 0)
    }

    @Test func sigkillingDaemonsDuringABurstLosesNothing() async throws {
        let harness = try await PostgresHarness(extra: ["--lease", "3", "--request-timeout", "1"])
        defer { harness.close() }
        let receiver = try await TestReceiver.start { _ in
            Response.status(200).delayed(by: .milliseconds(Int64.random(in: 0...20)))
        }
        defer { Task { try? await receiver.shutdown() } }
        let webhook = try await harness.addWebhook(url: receiver.url)
        var daemons = [
            try await harness.startDaemon(["--concurrency", "32"]), try await harness.startDaemon(["--concurrency", "32"]),
        ]
        defer { for daemon in daemons { daemon.stop() } }
        let events = 600
        var kills = 0
        for batch in 0..<6 {
            try await harness.insertEvents(events / 6, prefix: "evt_\(batch)_")
            // Kill one daemon once some of this batch went out, and start another in its place.
            let seen = receiver.requests.count
            try await harness.eventually(timeout: .seconds(30), "deliveries after batch \(batch)") {
                receiver.requests.count > seen
            }
            let victim = batch % daemons.count
            daemons[victim].send(SIGKILL)
            _ = try await daemons[victim].waitForExit()
            kills += 1
            daemons[victim] = try await harness.startDaemon(["--concurrency", "32"])
        }
        try await harness.eventually(timeout: .seconds(90), "every event delivered") {
            try await harness.count("SELECT count(*) FROM jobs WHERE state = 'delivered'") == events
        }
        let received = Set(receiver.requests.compactMap { $0.header("X-QR3-Event-Id") })
        #expect(received.count == events, "every event reached the receiver")
        #expect(try await harness.count("SELECT count(*) FROM jobs WHERE webhook_id = '\(webhook)'") == events)
        #expect(try await harness.count("SELECT count(*) FROM outbox") == 0)
        // A killed daemon's claims were sent again once their lease ran out: at most what a daemon
        // holds in flight per kill.
        let duplicates = receiver.requests.count - received.count
        #expect(duplicates <= kills * 64, "\(duplicates) duplicates after \(kills) kills")
        print("postgres chaos: \(events) events, \(kills) SIGKILLs, \(duplicates) sent twice")
    }

    @Test func aReceiverDownForAWhileGetsEveryEventWhenItIsBack() async throws {
        let harness = try await PostgresHarness(extra: ["--disable-after", "1000"])
        defer { harness.close() }
        let down = Atomic<Bool>(true)
        let receiver = try await TestReceiver.start { _ in
            down.load(ordering: .relaxed) ? Response.status(503) : Response.status(200)
        }
        defer { Task { try? await receiver.shutdown() } }
        _ = try await harness.addWebhook(url: receiver.url)
        let daemons = [try await harness.startDaemon(), try await harness.startDaemon()]
        defer { for daemon in daemons { daemon.stop() } }
        try await harness.insertEvents(300, prefix: "evt_")
        // The outage: the webhook's circuit opens and its queue waits, probed now and then.
        try await harness.eventually("the circuit open") {
            try await harness.count("SELECT count(*) FROM webhooks WHERE consecutive_failures >= 3") == 1
        }
        #expect(try await harness.count("SELECT count(*) FROM jobs WHERE state = 'failed'") == 0)
        down.store(false, ordering: .relaxed)
        try await harness.eventually("every event delivered once the receiver is back") {
            try await harness.count("SELECT count(*) FROM jobs WHERE state = 'delivered'") == 300
        }
        #expect(try await harness.count("SELECT count(*) FROM webhooks WHERE consecutive_failures = 0 AND is_active = 1") == 1)
        let delivered = Set(receiver.requests.compactMap { $0.header("X-QR3-Event-Id") })
        #expect(delivered.count == 300)
    }

    @Test func aDatabaseRestartCostsNoEventAndNoDaemon() async throws {
        let server = try await PostgresTestServer.start()
        let harness = try await PostgresHarness(server: server)
        defer {
            harness.close()
            Task { await server.remove() }
        }
        let receiver = try await TestReceiver.start { _ in
            Response.status(200).delayed(by: .milliseconds(5))
        }
        defer { Task { try? await receiver.shutdown() } }
        _ = try await harness.addWebhook(url: receiver.url)
        let daemon = try await harness.startDaemon(["--concurrency", "8"])
        defer { daemon.stop() }
        try await harness.insertEvents(400, prefix: "before_")
        _ = try await receiver.waitForRequests(count: 20, timeout: .seconds(30))
        // The server stops at once, cutting every connection, with deliveries in flight.
        try await server.stop()
        try await daemon.waitForLog("connection_lost", timeout: .seconds(30))
        try await server.start()
        // The daemon reconnects by itself; a row inserted after the restart is noticed too.
        try await harness.insertEvents(100, prefix: "after_")
        try await harness.eventually(timeout: .seconds(90), "every event delivered after the restart") {
            try await harness.count("SELECT count(*) FROM jobs WHERE state = 'delivered'") == 500
        }
        #expect(daemon.exitStatus == nil, "the daemon kept running:\n\(daemon.log)")
        let received = Set(receiver.requests.compactMap { $0.header("X-QR3-Event-Id") })
        #expect(received.count == 500)
        let duplicates = receiver.requests.count - received.count
        print("postgres restart: 500 events, \(duplicates) sent twice")
        daemon.send(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
    }
}
