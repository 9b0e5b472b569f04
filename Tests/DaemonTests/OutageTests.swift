import Foundation
import GRDB
import Synchronization
import Testing
import WebhookTestSupport

/// A receiver's outage never costs an event: the real daemon, producers inserting at a steady
/// rate, and a receiver that goes away (connections refused) and comes back on the same port.
@Suite struct OutageTests {
    /// The receivers of one endpoint across an outage: the one before and the one after.
    final class Endpoint: Sendable {
        let port: Int
        private let receivers = Mutex<[TestReceiver]>([])

        init() async throws {
            let first = try await TestReceiver.startOnAFixedPort()
            port = first.port
            receivers.withLock { $0 = [first] }
        }

        var url: String { "http://127.0.0.1:\(port)/hook" }

        func goAway() async throws {
            for receiver in receivers.withLock({ $0 }) { try await receiver.shutdown() }
        }

        /// Starts a receiver on the same port again. The port may still be held for a moment by
        /// the old receiver's sockets (a full run saw EADDRINUSE): tried again for up to 10 s, and
        /// what holds it is named if it never frees.
        func comeBack() async throws {
            var lastError: (any Error)?
            for _ in 0..<100 {
                do {
                    let again = try await TestReceiver.start(port: port)
                    receivers.withLock { $0.append(again) }
                    return
                } catch {
                    lastError = error
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            let holders = try? await runToolInBackground("/bin/sh", ["-c", "ss -tanp | grep ':\(port) ' || true"])
            throw TestFailure("port \(port) stayed in use: \(lastError.map { "\($0)" } ?? "-")\n\(holders?.stdout ?? "")")
        }

        /// Every request received, before and after the outage.
        var requests: [ReceivedRequest] { receivers.withLock { $0.flatMap(\.requests) } }

        /// How many times each event id arrived.
        var arrivals: [String: Int] {
            var counts: [String: Int] = [:]
            for request in requests { counts[request.header("X-QR3-Event-Id") ?? "", default: 0] += 1 }
            return counts
        }
    }

    /// Inserts `count` events, one every `interval`, with ids `prefix-N`, as a producer would.
    func produce(_ harness: Harness, count: Int, prefix: String, interval: Duration) async throws {
        // Through GRDB's async API: a synchronous insert waiting for the daemon's write lock would
        // hold one of the cooperative pool's two threads meanwhile.
        let producer = try harness.producer()
        for index in 0..<count {
            try await producer.write { db in
                try db.execute(
                    sql:
                        "INSERT INTO outbox (event_id, workspace_id, type, data) VALUES (?, 'ws_test', 'qr.scanned', ?)",
                    arguments: ["\(prefix)-\(index)", #"{"n":\#(index)}"#])
            }
            // The producer's steady rate, not a wait for a result.
            try await Task.sleep(for: interval)
        }
    }

    /// Runs an outage of `outage` while a producer inserts 40 events a second, and checks that
    /// every event arrives afterwards with the webhook still enabled. Returns the attempts that
    /// failed during the outage.
    func outage(schedule: String, lasting outage: Duration, name: String) async throws {
        let harness = try Harness(retrySchedule: schedule)
        defer { harness.remove() }
        let endpoint = try await Endpoint()
        defer { Task { try? await endpoint.goAway() } }
        let webhook = try harness.createWebhook(url: endpoint.url)
        let daemon = try await harness.startDaemon()
        defer { daemon.stop() }
        let total = 40 * (Int(outage.components.seconds) + 3)
        let producer = Task { try await produce(harness, count: total, prefix: name, interval: .milliseconds(25)) }
        try await harness.eventually(timeout: .seconds(60), "the first events arrive") { endpoint.requests.count >= 20 }
        try await endpoint.goAway()
        let wentAway = ContinuousClock.now
        try await harness.eventually("the outage is noticed") {
            try harness.count("SELECT COUNT(*) FROM attempts WHERE status = 'failed'") > 0
        }
        try await Task.sleep(until: wentAway + outage)
        let failedDuringOutage = try harness.count("SELECT COUNT(*) FROM attempts WHERE status = 'failed'")
        try await endpoint.comeBack()
        try await producer.value
        try await harness.eventually(timeout: .seconds(60), "all \(total) events arrive after the outage") {
            endpoint.arrivals.count { $0.key.hasPrefix(name) } == total
        }
        let arrivals = endpoint.arrivals
        let duplicates = arrivals.values.reduce(0) { $0 + max(0, $1 - 1) }
        let show = try await harness.runCLI(["webhooks", "show", webhook, "--json"]).stdout
        print(
            "outage \(name): \(total) events, receiver away \(outage) (retry-schedule \(schedule)); "
                + "\(failedDuringOutage) attempts failed during it; \(duplicates) duplicates; all arrived"
        )
        #expect(show.contains(#""is_active":true"#), "an outage shorter than the disabling time disables nothing")
        // The requests in flight when it went away (at most the webhook's limit, 16 at the start and
        // not grown by a trickle of one at a time) fail
        // together; after that, one probe at a time at the schedule's pace.
        let outageSeconds = Double(outage.components.seconds)
        let firstDelay = Double(schedule.split(separator: ",")[1]) ?? 1
        let probes = Int(outageSeconds / firstDelay) + 2
        #expect(failedDuringOutage <= 16 + probes, "\(failedDuringOutage) attempts spent during the outage")
        #expect(duplicates <= 16, "duplicates at most the requests in flight when it went away")
        #expect(!daemon.log.contains("Webhook disabled"))
        try await daemon.waitForLog("Webhook recovered")
    }

    @Test func aReceiverAwayForThreeSecondsGetsEveryEventWhenItIsBack() async throws {
        try await outage(schedule: "0,1,2", lasting: .seconds(3), name: "short")
    }

    @Test func aReceiverAwayLongerThanTheWholeRetryScheduleStillGetsEveryEvent() async throws {
        // Three attempts over 0.9 s, an outage of 3 s: no event's own attempts run out, since
        // the jobs behind the open circuit wait with theirs intact.
        try await outage(schedule: "0,0.3,0.6", lasting: .seconds(3), name: "long")
    }

    @Test func eventsOfADisabledWebhookAreHeldAndArriveAfterEnable() async throws {
        // Disabled after 3 failed probes: 0.2 + 0.4 s of failing.
        let harness = try Harness(retrySchedule: "0,0.2,0.4")
        defer { harness.remove() }
        let endpoint = try await Endpoint()
        defer { Task { try? await endpoint.goAway() } }
        try await endpoint.goAway()
        let webhook = try harness.createWebhook(url: endpoint.url)
        let daemon = try await harness.startDaemon(["--disable-after", "3"])
        defer { daemon.stop() }
        try await produce(harness, count: 10, prefix: "before", interval: .milliseconds(5))
        try await daemon.waitForLog("Webhook disabled; its deliveries are held until it is enabled")
        // Inserted while the webhook is disabled: held, not dropped.
        try await produce(harness, count: 10, prefix: "while", interval: .milliseconds(5))
        try await harness.eventually("the new events are taken in") {
            try harness.count("SELECT COUNT(*) FROM outbox") == 0
                && harness.count("SELECT COUNT(*) FROM jobs WHERE state = 'paused'") >= 10
        }
        let status = try await harness.statusReport()
        let held = try #require(status["held"] as? Int)
        let failed = try harness.count("SELECT COUNT(*) FROM jobs WHERE state = 'failed'")
        #expect(held + failed == 20, "held \(held), failed for good \(failed)")
        let show = try await harness.runCLI(["webhooks", "show", webhook])
        #expect(show.stdout.contains("held:        \(held) deliveries"))
        let troubled = try #require(status["troubled_webhooks"] as? [[String: Any]])
        #expect(troubled.first?["state"] as? String == "disabled")
        #expect(endpoint.requests.isEmpty)

        try await endpoint.comeBack()
        try await harness.runCLI(["webhooks", "enable", webhook])
        try await harness.eventually("the held deliveries arrive") {
            endpoint.arrivals.count == held
        }
        // What failed for good comes back with recover; a dry run sends nothing.
        let dryRun = try await harness.runCLI(["webhooks", "recover", webhook, "--since", "1h", "--dry-run", "--json"])
        #expect(dryRun.stdout.contains(#""queued":\#(failed)"#), "\(dryRun.stdout)")
        #expect(try harness.count("SELECT COUNT(*) FROM jobs WHERE state = 'failed'") == failed)
        let recovered = try await harness.runCLI(["webhooks", "recover", webhook, "--since", "1h", "--json"])
        #expect(recovered.stdout.contains(#""queued":\#(failed)"#), "\(recovered.stdout)")
        try await harness.eventually("every event arrives") { endpoint.arrivals.count == 20 }
        print(
            "disabled webhook: \(held) deliveries held and sent after enable, \(failed) failed for good and recovered")
        #expect(!daemon.log.contains("Webhook enabled again by a recovery probe"), "enabled by hand, not by a probe")
    }

    @Test func recoverSendsAWindowOfFailedForGoodEventsOnce() async throws {
        let harness = try Harness(retrySchedule: "0,0.1")
        defer { harness.remove() }
        let failing = Atomic<Bool>(true)
        let receiver = try await TestReceiver.start { request in
            failing.load(ordering: .relaxed) && request.bodyText.contains("bad") ? .status(500) : .status(200)
        }
        defer { Task { try? await receiver.shutdown() } }
        let webhook = try harness.createWebhook(url: receiver.url)
        let daemon = try await harness.startDaemon(["--disable-after", "100"])
        defer { daemon.stop() }
        let kinds = ["good", "bad", "good", "bad", "good", "bad", "good"]
        try harness.insert(kinds.map { ("ws_test", "qr.scanned", #"{"kind":"\#($0)"}"#) })
        try await harness.eventually("3 deliveries fail for good, 4 are delivered") {
            try harness.count("SELECT COUNT(*) FROM jobs WHERE state = 'failed'") == 3
                && harness.count("SELECT COUNT(*) FROM jobs WHERE state = 'delivered'") == 4
        }
        #expect(receiver.requests.count == 4 + 3 * 2)
        failing.store(false, ordering: .relaxed)

        let dryRun = try await harness.runCLI(["webhooks", "recover", webhook, "--since", "10m", "--dry-run"])
        #expect(
            dryRun.stdout.contains("would queue 3 deliveries (3 failed for good, 0 never made)"), "\(dryRun.stdout)")
        let run = try await harness.runCLI(["webhooks", "recover", webhook, "--since", "10m"])
        #expect(run.stdout.contains("queued 3 deliveries"), "\(run.stdout)")
        let again = try await harness.runCLI(["webhooks", "recover", webhook, "--since", "10m"])
        #expect(again.stdout.contains("queued 0 deliveries"), "\(again.stdout)")
        try await harness.eventually("the recovered deliveries arrive") {
            try harness.count("SELECT COUNT(*) FROM jobs WHERE state = 'delivered'") == 7
        }
        // Each bad event: two failed attempts, then exactly one more; the dry run sent nothing.
        let bad = receiver.requests.filter { $0.bodyText.contains("bad") }
        #expect(bad.count == 3 * 3)
        let log = try await harness.deliveryLog(webhook)
        #expect(log.filter { $0["attempt"] as? Int == 3 }.count == 3, "the recovered run is numbered on: attempt 3")
        // A window before the events holds nothing to recover.
        let empty = try await harness.runCLI(["webhooks", "recover", webhook, "--since", "2h", "--until", "1h"])
        #expect(empty.stdout.contains("queued 0"))
    }

    @Test func aRecoveryProbeEnablesAWebhookWhoseReceiverCameBack() async throws {
        let harness = try Harness(retrySchedule: "0,0.2")
        defer { harness.remove() }
        let endpoint = try await Endpoint()
        defer { Task { try? await endpoint.goAway() } }
        try await endpoint.goAway()
        let webhook = try harness.createWebhook(url: endpoint.url)
        let daemon = try await harness.startDaemon(["--disable-after", "2", "--recovery-probe-interval", "1"])
        defer { daemon.stop() }
        try await produce(harness, count: 5, prefix: "probe", interval: .milliseconds(5))
        try await daemon.waitForLog("Webhook disabled; its deliveries are held until it is enabled")
        try await endpoint.comeBack()
        try await daemon.waitForLog("Recovery probe queued for a disabled webhook")
        try await daemon.waitForLog("Webhook enabled again by a recovery probe; its held deliveries are sent")
        try await harness.eventually("the held events arrive") {
            endpoint.arrivals.keys.count { $0.hasPrefix("probe-") } == 5
                - (try harness.count(
                    "SELECT COUNT(*) FROM jobs j JOIN events e ON e.id = j.event_id WHERE j.state = 'failed' AND e.type <> 'webhook.ping'"
                ))
        }
        #expect(endpoint.requests.contains { $0.header("X-QR3-Event-Type") == "webhook.ping" })
        let show = try await harness.runCLI(["webhooks", "show", webhook, "--json"])
        #expect(show.stdout.contains(#""is_active":true"#))
        let log = try await harness.deliveryLog(webhook)
        #expect(log.contains { $0["event_type"] as? String == "webhook.ping" && $0["status"] as? String == "success" })
    }

    @Test func aSuccessWhoseAnswerIsTooLongIsStillASuccess() async throws {
        let harness = try Harness(retrySchedule: "0,0.2,0.4")
        defer { harness.remove() }
        let receiver = try await TestReceiver.start { _ in .huge(byteCount: 5_000_000, status: 200) }
        defer { Task { try? await receiver.shutdown() } }
        let webhook = try harness.createWebhook(url: receiver.url)
        let daemon = try await harness.startDaemon(["--max-response-bytes", "1024"])
        defer { daemon.stop() }
        try harness.insert([("ws_test", "qr.scanned", "{}")])
        try await harness.eventually("the delivery is recorded") {
            try harness.count("SELECT COUNT(*) FROM attempts") == 1
        }
        let log = try await harness.deliveryLog(webhook)
        #expect(log.first?["status"] as? String == "success")
        #expect(log.first?["status_code"] as? Int == 200)
        #expect(receiver.bodyBytesSent < 4_000_000, "reading stopped early")
    }
}
