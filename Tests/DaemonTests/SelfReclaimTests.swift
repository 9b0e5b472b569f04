import Foundation
import Logging
import Synchronization
import Testing
import WebhookCore
import WebhookDelivery
import WebhookSQLite
import WebhookStorage
import WebhookTestSupport

@testable import WebhookDaemon

/// A lease that runs out while its request is still under way in the same process: the job is
/// claimed again, by this process, and must not be sent a second time.
///
/// The command line refuses a lease shorter than twice the request timeout, which makes this rare
/// (a machine stalled for longer than a lease); the delivery service is built here directly, with
/// a lease far shorter than its receiver's answer, to make it happen on every claim.
@Suite(.timeLimit(.minutes(1))) struct SelfReclaimTests {
    @Test func aJobClaimedAgainWhileItsRequestIsUnderWayIsNotSentTwice() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let receiver = try await TestReceiver.start { _ in Response.status(200).delayed(by: .seconds(3)) }
        defer { Task { try? await receiver.shutdown() } }
        let webhook = try harness.createWebhook(url: receiver.url)
        try harness.insert([("ws_test", "qr.scanned", "{}")])

        var configuration = DaemonConfiguration()
        configuration.databasePath = harness.databasePath
        configuration.maximumConcurrentTransfers = 4
        configuration.leaseSeconds = 0.2
        configuration.requestTimeout = 10
        configuration.pollInterval = 0.02
        configuration.allowedNetworks = [try CIDR("127.0.0.0/8")]
        let messages = CollectedMessages()
        let logger = Logger(label: "self-reclaim") { _ in CollectingLogHandler(messages: messages) }
        let store = try SQLiteWebhookStore(path: harness.databasePath, logger: logger)
        var clientConfiguration = DeliveryClient.Configuration(userAgent: "qr3-webhookd/test")
        clientConfiguration.maximumConcurrentTransfers = configuration.maximumConcurrentTransfers
        clientConfiguration.totalTimeout = .seconds(10)
        clientConfiguration.addressPolicy = configuration.addressPolicy
        let client = try DeliveryClient(configuration: clientConfiguration, logger: logger)
        let service = DeliveryService(
            store: store, client: client, configuration: configuration, work: Wakeup(),
            statistics: DaemonStatistics(), metrics: DaemonMetrics(), health: StoreHealth(),
            notifier: SystemdNotifier(environment: [:]),
            readiness: ReadinessGate(expecting: []), owner: "test:self-reclaim", logger: logger)
        let running = Task { try await service.run() }
        defer { running.cancel() }

        // The request is held for three seconds; its 200 ms lease runs out many times meanwhile.
        _ = try await receiver.waitForRequests(count: 1, timeout: .seconds(30))
        try await harness.eventually("the attempt recorded") {
            try harness.count("SELECT COUNT(*) FROM attempts WHERE webhook_id = ?", [webhook]) == 1
        }
        running.cancel()
        _ = try? await running.value

        let reclaims = messages.all.filter { $0.hasPrefix("Lease expired; job claimed again") }
        #expect(!reclaims.isEmpty, "the lease ran out and the job was claimed again while its request was under way")
        #expect(
            receiver.requests.count == 1,
            "claimed \(reclaims.count + 1) times: must be sent once, not \(receiver.requests.count) times")
        #expect(try harness.count("SELECT COUNT(*) FROM jobs WHERE state = 'delivered'") == 1)
        #expect(
            !messages.all.contains { $0.hasPrefix("Result dropped") },
            "the result was recorded under the latest claim")
    }
}

/// Log messages, with their metadata, kept for a test to read.
final class CollectedMessages: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }
}

struct CollectingLogHandler: LogHandler {
    let messages: CollectedMessages
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        messages.append(([event.message.description] + fields).joined(separator: " "))
    }
}
