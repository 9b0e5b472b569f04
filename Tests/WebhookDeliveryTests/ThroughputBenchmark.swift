import Glibc
import Testing
import WebhookCore
import WebhookDelivery
import WebhookTestSupport

/// Loopback throughput of one delivery thread; runs only with `QR3_DELIVERY_BENCH=<requests>` set,
/// best in release: `QR3_DELIVERY_BENCH=100000 swift test -c release -Xswiftc -enable-testing --filter ThroughputBenchmark`.
@Suite struct ThroughputBenchmark {
    static let requestCount = getenv("QR3_DELIVERY_BENCH").flatMap { Int(String(cString: $0)) }

    @Test(.enabled(if: requestCount != nil)) func postsPerSecondOnLoopback() async throws {
        let total = try #require(ThroughputBenchmark.requestCount)
        let receiver = try await TestReceiver.start { _ in .status(204) }
        let harness = try Harness.start()
        let body = Array(
            #"{"id":"evt_abc123xyz","type":"qr.scanned","created":"2026-03-15T10:00:00.000Z","data":{"code_id":"qr_abc123"}}"#
                .utf8)
        let headers = [
            "X-QR3-Signature: sha256=" + String(repeating: "ab", count: 32), "X-QR3-Event-Id: evt_abc123xyz",
        ]
        let requests = (1...total).map {
            OutboundRequest(tag: UInt64($0), url: receiver.url, body: body, headers: headers)
        }

        let started = ContinuousClock.now
        harness.client.submit(requests)
        let outcomes = try await harness.collect(total, timeout: .seconds(300))
        let elapsed = ContinuousClock.now - started

        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(
            "delivered \(total) POSTs in \(elapsed) over \(receiver.connectionCount) connections: \(Int(Double(total) / seconds)) requests/s"
        )
        #expect(outcomes.values.allSatisfy { $0.isSuccess })
        await harness.stop()
        try await receiver.shutdown()
    }
}
