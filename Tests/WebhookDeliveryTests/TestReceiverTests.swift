import Testing
import WebhookTestSupport

@Suite struct TestReceiverTests {
    @Test func waitingForMoreRequestsThanArriveTimesOut() async throws {
        let receiver = try await TestReceiver.start()
        let started = ContinuousClock.now

        await #expect(throws: TestReceiverError.self) {
            try await receiver.waitForRequests(count: 1, timeout: .milliseconds(100))
        }

        #expect(ContinuousClock.now - started < .seconds(5))
        try await receiver.shutdown()
    }

    @Test func shutdownReleasesWaiters() async throws {
        let receiver = try await TestReceiver.start()
        let waiting = Task { try await receiver.waitForRequests(count: 1, timeout: .seconds(30)) }

        try await receiver.shutdown()

        await #expect(throws: TestReceiverError.self) { try await waiting.value }
    }
}
