import Testing
import WebhookCore
import WebhookDelivery
import WebhookTestSupport

@Suite struct AddressGuardTests {
    @Test func defaultPolicyRefusesLoopbackInEveryForm() async throws {
        let receiver = try await TestReceiver.start()
        let harness = try Harness.start(policy: .publicOnly)
        let port = receiver.port
        let urls = [
            "http://127.0.0.1:\(port)/", "http://2130706433:\(port)/", "http://[::1]:\(port)/",
            "http://localhost:\(port)/", "http://0x7f.1:\(port)/", "http://017700000001:\(port)/",
            "http://[::ffff:127.0.0.1]:\(port)/", "http://127.1:\(port)/", "http://0.0.0.0:\(port)/",
        ]

        let outcomes = try await harness.deliver(urls)

        for (index, url) in urls.enumerated() {
            let outcome = try #require(outcomes[UInt64(index + 1)])
            #expect(outcome.failure == .blockedAddress, "\(url): \(outcome)")
            #expect(outcome.statusCode == nil)
        }
        #expect(try #require(outcomes[1]).excerpt.contains("127.0.0.1"))
        #expect(try #require(outcomes[3]).excerpt.contains("::1"))
        #expect(receiver.requests.isEmpty)
        #expect(receiver.connectionCount == 0)
        await harness.stop()
        try await receiver.shutdown()
    }

    @Test func allowedBlockIsReachable() async throws {
        let receiver = try await TestReceiver.start()
        let harness = try Harness.start(policy: AddressPolicy(allowing: [try CIDR("127.0.0.1/32")]))

        let outcome = try await harness.deliver("http://2130706433:\(receiver.port)/hook")

        #expect(outcome.isSuccess)
        #expect(receiver.requests.count == 1)
        await harness.stop()
        try await receiver.shutdown()
    }
}
