import Testing
import WebhookCore
import WebhookDelivery
import WebhookTestSupport

@Suite struct DeliveryOutcomeTests {
    @Test func successSendsExactlyTheBodyAndHeaders() async throws {
        let receiver = try await TestReceiver.start { _ in .status(200, body: "thanks") }
        let harness = try Harness.start()
        let body = #"{"id":"evt_abc123xyz","type":"qr.scanned","data":{"city":"Zürich"}}"#
        let headers = ["X-QR3-Signature: sha256=0123abcd", "X-QR3-Event-Id: evt_abc123xyz"]

        let outcome = try await harness.deliver(receiver.url, body: body, headers: headers)

        #expect(outcome.isSuccess)
        #expect(outcome.statusCode == 200)
        #expect(outcome.excerpt == "thanks")
        #expect(outcome.responseTimeMs >= 0)
        let request = try #require(try await receiver.waitForRequests(count: 1).first)
        #expect(request.method == "POST")
        #expect(request.path == "/hook")
        #expect(request.body == Array(body.utf8))
        #expect(request.header("Content-Type") == "application/json")
        #expect(request.header("Content-Length") == "\(body.utf8.count)")
        #expect(request.header("User-Agent") == "qr3-webhookd/test")
        #expect(request.header("X-QR3-Signature") == "sha256=0123abcd")
        #expect(request.header("X-QR3-Event-Id") == "evt_abc123xyz")
        #expect(request.header("Expect") == nil)
        await harness.stop()
        try await receiver.shutdown()
    }

    @Test func largeBodyIsSentWithoutExpectContinue() async throws {
        let receiver = try await TestReceiver.start()
        let harness = try Harness.start()
        let body = "[" + String(repeating: "1,", count: 1_500_000) + "1]"

        let outcome = try await harness.deliver(receiver.url, body: body)

        #expect(outcome.statusCode == 200)
        let request = try #require(try await receiver.waitForRequests(count: 1).first)
        #expect(request.header("Expect") == nil)
        #expect(request.body.count == body.utf8.count)
        await harness.stop()
        try await receiver.shutdown()
    }

    @Test func serverErrorIsAnHTTPStatusFailureWithExcerpt() async throws {
        let receiver = try await TestReceiver.start { _ in .status(500, body: "database down") }
        let harness = try Harness.start()

        let outcome = try await harness.deliver(receiver.url)

        #expect(outcome.failure == .httpStatus)
        #expect(outcome.statusCode == 500)
        #expect(outcome.excerpt == "database down")
        await harness.stop()
        try await receiver.shutdown()
    }

    @Test(arguments: [301, 302, 307, 308])
    func redirectIsAFailureAndNotFollowed(status: Int) async throws {
        let receiver = try await TestReceiver.start { request in
            request.path == "/hook" ? .status(status, headers: [("Location", "/elsewhere")]) : .status(200)
        }
        let harness = try Harness.start()

        let outcome = try await harness.deliver(receiver.url)

        #expect(outcome.failure == .httpStatus)
        #expect(outcome.statusCode == status)
        #expect(receiver.requests.map(\.path) == ["/hook"])
        await harness.stop()
        try await receiver.shutdown()
    }

    @Test func retryAfterIsReported() async throws {
        let receiver = try await TestReceiver.start { _ in .status(429, headers: [("Retry-After", "7")]) }
        let harness = try Harness.start()

        let outcome = try await harness.deliver(receiver.url)

        #expect(outcome.failure == .httpStatus)
        #expect(outcome.statusCode == 429)
        #expect(outcome.retryAfterSeconds == 7)
        await harness.stop()
        try await receiver.shutdown()
    }

    @Test func noRetryAfterIsNil() async throws {
        let receiver = try await TestReceiver.start { _ in .status(503) }
        let harness = try Harness.start()

        let outcome = try await harness.deliver(receiver.url)

        #expect(outcome.retryAfterSeconds == nil)
        await harness.stop()
        try await receiver.shutdown()
    }

    @Test func excerptIsCutAtACharacterBoundary() async throws {
        let receiver = try await TestReceiver.start { _ in .status(400, body: String(repeating: "é", count: 1000)) }
        let harness = try Harness.start { $0.excerptBytes = 511 }

        let outcome = try await harness.deliver(receiver.url)

        #expect(outcome.excerpt == String(repeating: "é", count: 255))
        await harness.stop()
        try await receiver.shutdown()
    }
}
