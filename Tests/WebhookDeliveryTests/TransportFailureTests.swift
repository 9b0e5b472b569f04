import Testing
import WebhookCore
import WebhookDelivery
import WebhookTestSupport

@Suite struct TransportFailureTests {
    @Test func slowAnswerTimesOut() async throws {
        // An answer 30 s late against a 300 ms timeout: even a machine stalled for seconds ends
        // the transfer by its timeout, long before the answer.
        let receiver = try await TestReceiver.start { _ in .status(200).delayed(by: .seconds(30)) }
        let harness = try Harness.start { $0.totalTimeout = .milliseconds(300) }

        let outcome = try await harness.deliver(receiver.url)

        #expect(outcome.failure == .timeout)
        #expect(outcome.statusCode == nil)
        #expect((250..<10_000).contains(outcome.responseTimeMs))
        #expect(!outcome.excerpt.isEmpty)
        await harness.stop()
        try await receiver.shutdown()
    }

    @Test func tricklingBodyTimesOut() async throws {
        // The status line comes at once, the body over twenty seconds: the timeout ends the
        // transfer in the body. Five seconds, so a loaded machine still gets the status line in
        // time (CI once missed it within 300 ms, in a run where this test took 7 s).
        let receiver = try await TestReceiver.start { _ in
            .trickle(String(repeating: "a", count: 100), interval: .milliseconds(200))
        }
        let harness = try Harness.start { $0.totalTimeout = .seconds(5) }

        let outcome = try await harness.deliver(receiver.url)

        #expect(outcome.failure == .timeout)
        #expect(outcome.statusCode == 200)
        await harness.stop()
        try await receiver.shutdown()
    }

    /// Reading stops at the cap. A failure's answer that long is `body_too_large`; a 2xx is a
    /// success all the same (the receiver took the event before it answered).
    @Test(arguments: [(true, 500), (false, 500), (true, 200), (false, 200)])
    func hugeBodyStopsAtTheCap(chunked: Bool, status: Int) async throws {
        let receiver = try await TestReceiver.start { _ in
            .huge(byteCount: 100_000_000, chunked: chunked, status: status)
        }
        // Long enough that only the size cap can end the transfer, however slow the machine.
        let harness = try Harness.start { $0.totalTimeout = .seconds(600) }

        let outcome = try await harness.deliver(receiver.url)

        #expect(outcome.statusCode == status)
        if status == 200 {
            #expect(outcome.isSuccess)
            #expect(outcome.excerpt.hasPrefix("xxx"))
        } else {
            #expect(outcome.failure == .bodyTooLarge)
            #expect(outcome.excerpt.contains("65536"))
        }
        await harness.stop()
        try await receiver.shutdown()
        #expect(receiver.bodyBytesSent < 50_000_000)
    }

    @Test func resetMidResponseIsANetworkFailure() async throws {
        let receiver = try await TestReceiver.start { _ in .resetMidResponse(declaredLength: 1000, sentBytes: 10) }
        let harness = try Harness.start()

        let outcome = try await harness.deliver(receiver.url)

        #expect(outcome.failure == .network)
        await harness.stop()
        try await receiver.shutdown()
    }

    @Test func closedMidResponseIsANetworkFailure() async throws {
        let receiver = try await TestReceiver.start { _ in
            .status(200, body: String(repeating: "x", count: 100)).ending(.close(afterBodyBytes: 10))
        }
        let harness = try Harness.start()

        let outcome = try await harness.deliver(receiver.url)

        #expect(outcome.failure == .network)
        await harness.stop()
        try await receiver.shutdown()
    }

    @Test func closedPortIsAConnectFailure() async throws {
        let receiver = try await TestReceiver.start()
        let url = receiver.url
        try await receiver.shutdown()
        let harness = try Harness.start()

        let outcome = try await harness.deliver(url)

        #expect(outcome.failure == .connect)
        #expect(outcome.statusCode == nil)
        await harness.stop()
    }

    @Test func unknownHostIsADNSFailure() async throws {
        let harness = try Harness.start()

        let outcome = try await harness.deliver("http://name.invalid/hook")

        #expect(outcome.failure == .dns)
        await harness.stop()
    }

    @Test func tlsToAPlainHTTPPortIsATLSFailure() async throws {
        let receiver = try await TestReceiver.start()
        let harness = try Harness.start()

        let outcome = try await harness.deliver("https://127.0.0.1:\(receiver.port)/hook")

        #expect(outcome.failure == .tls)
        #expect(receiver.requests.isEmpty)
        await harness.stop()
        try await receiver.shutdown()
    }

    @Test(arguments: ["ftp://127.0.0.1/hook", "file:///etc/passwd", "gopher://127.0.0.1/", "not a url", ""])
    func unsendableURLIsInvalid(url: String) async throws {
        let harness = try Harness.start()

        let outcome = try await harness.deliver(url)

        #expect(outcome.failure == .invalidURL)
        await harness.stop()
    }

    @Test func headerWithALineBreakIsRefused() async throws {
        let receiver = try await TestReceiver.start()
        let harness = try Harness.start()

        let outcome = try await harness.deliver(receiver.url, headers: ["X-Event: a\r\nX-Injected: b"])

        #expect(outcome.failure == .other)
        #expect(receiver.requests.isEmpty)
        await harness.stop()
        try await receiver.shutdown()
    }
}
