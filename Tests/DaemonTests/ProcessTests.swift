import Foundation
import Synchronization
import Testing
import WebhookCore
import WebhookTestSupport

@Suite(.timeLimit(.minutes(2))) struct ProcessTests {
    @Test func sigtermDrainsDeliveriesInFlightAndExitsZero() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        // Answers late enough that the requests are surely still in flight when SIGTERM lands,
        // and well within the request timeout (6 s) and the drain timeout (8 s).
        let receiver = try await TestReceiver.start { _ in Response.status(200).delayed(by: .seconds(2)) }
        defer { Task { try? await receiver.shutdown() } }
        let webhook = try harness.createWebhook(url: receiver.url)
        let daemon = try await harness.startDaemon(["--request-timeout", "6", "--lease", "12", "--drain-timeout", "8"])
        defer { daemon.stop() }
        try harness.insert(Array(repeating: ("ws_test", "qr.created", "{}"), count: 5))
        _ = try await receiver.waitForRequests(count: 5)
        // The threads an operator sees in `top -H` name their work.
        let threads = daemon.threads.map(\.name)
        #expect(Set(threads).isSuperset(of: ["qr3-delivery", "qr3-outbox"]), "threads: \(threads)")
        daemon.send(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
        #expect(daemon.log.contains("Draining deliveries in flight"))
        let log = try harness.deliveries(webhook)
        #expect(log.count == 5)
        #expect(log.allSatisfy { $0["status"] as? String == "success" })
        #expect(try harness.status()["pending"] as? Int == 0)
    }

    @Test func anAbandonedClaimIsDeliveredAgainAfterItsLease() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let hang = Hang()
        let receiver = try await TestReceiver.start { _ in hang.isOn ? .noAnswer : .status(200) }
        defer { Task { try? await receiver.shutdown() } }
        let webhook = try harness.createWebhook(url: receiver.url)
        // The first worker claims the job under an 8 s lease and dies with the request unanswered,
        // well before its 4 s request timeout would make it try again itself (a loaded full run
        // took more than the 1 s timeout this test had to deliver the kill).
        let first = try await harness.startDaemon(["--request-timeout", "4", "--lease", "8"])
        try harness.insert([("ws_test", "qr.created", "{}")], eventIDs: ["evt_abandoned"])
        _ = try await receiver.waitForRequests(count: 1)
        let killedAt = ContinuousClock.now
        first.send(SIGKILL)
        _ = try await first.waitForExit()
        hang.isOn = false
        let second = try await harness.startDaemon()
        defer { second.stop() }
        let requests = try await receiver.waitForRequests(count: 2, timeout: .seconds(40))
        #expect(requests.map { $0.header("X-QR3-Event-Id") } == ["evt_abandoned", "evt_abandoned"])
        #expect(requests[1].receivedAt - killedAt > .milliseconds(500), "not before the lease ran out")
        try await second.waitForLog("Delivered")
        let log = try harness.deliveries(webhook)
        #expect(log.count == 1)
        #expect(log.first?["status"] as? String == "success")
    }

    @Test func twoDaemonsOnOneDatabaseDeliverEachJobOnce() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        // A receiver that takes a little time, and few transfers per daemon, so that neither daemon
        // can hold every due job: both must claim from the same queue at the same time.
        let receiver = try await TestReceiver.start { _ in Response.status(200).delayed(by: .milliseconds(10)) }
        defer { Task { try? await receiver.shutdown() } }
        _ = try harness.createWebhook(url: receiver.url)
        _ = try harness.createWebhook(url: receiver.url, events: "qr.created")
        let first = try await harness.startDaemon(["--concurrency", "4", "--poll-interval", "0.02"])
        let second = try await harness.startDaemon(["--concurrency", "4", "--poll-interval", "0.02"])
        defer { first.stop(); second.stop() }
        let count = 300
        try harness.insert(Array(repeating: ("ws_test", "qr.created", "{}"), count: count))
        let requests = try await receiver.waitForRequests(count: 2 * count, timeout: .seconds(60))
        let pairs = requests.map { "\($0.header("X-QR3-Webhook-Id") ?? "") \($0.header("X-QR3-Event-Id") ?? "")" }
        #expect(Set(pairs).count == 2 * count)
        #expect(pairs.count == 2 * count, "no job was delivered twice")
        first.send(SIGTERM)
        second.send(SIGTERM)
        #expect(try await first.waitForExit() == 0)
        #expect(try await second.waitForExit() == 0)
        #expect(receiver.requests.count == 2 * count)
        let status = try harness.status()
        #expect(status["delivered"] as? Int == 2 * count)
        #expect(first.log.contains("Delivered") && second.log.contains("Delivered"), "both daemons took part")
    }

    @Test func aTakenAPIAddressEndsTheDaemonWithTheAddressNamed() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        // A listening socket that holds the port the daemon is told to use.
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(holder, pointer, length) == 0 && listen(holder, 1) == 0
                    && getsockname(holder, pointer, &length) == 0
            }
        }
        try #require(bound)
        let port = UInt16(bigEndian: address.sin_port)
        let daemon = try DaemonProcess(arguments: harness.baseArguments + ["--listen", "127.0.0.1:\(port)"])
        defer { daemon.stop() }
        // Every other service stops with it: the process exits rather than running without its API.
        #expect(try await daemon.waitForExit() == 1)
        #expect(daemon.log.contains("the API cannot listen on 127.0.0.1:\(port) (setting `listen`)"))
        #expect(daemon.log.contains("Address already in use"))
    }

    @Test func badSettingsAreRefusedWithTheSettingNamed() throws {
        let harness = try Harness()
        defer { harness.remove() }
        let result = try harness.cli(["run", "--concurrency", "lots"], expectSuccess: false)
        #expect(result.status != 0)
        #expect(result.stderr.contains("concurrency"))
        #expect(result.stderr.contains("lots"))
        let schedule = try harness.cli(["run", "--retry-schedule", "0,soon"], expectSuccess: false)
        #expect(schedule.status != 0)
        #expect(schedule.stderr.contains("retry schedule entry \"soon\""))
        let emit = try harness.cli(
            ["emit", "--workspace", "ws", "--type", "qr.nope", "--data", "{}"], expectSuccess: false)
        #expect(emit.status != 0)
        #expect(emit.stderr.contains("not a known event type"))
    }
}

/// A switch the receiver's behaviour reads.
final class Hang: Sendable {
    private let on = Atomic<Bool>(true)

    var isOn: Bool {
        get { on.load(ordering: .relaxed) }
        set { on.store(newValue, ordering: .relaxed) }
    }
}
