import Foundation
import GRDB
import Testing
import WebhookCore
import WebhookTestSupport

/// Receivers that misbehave, all at once, through one real daemon: each attempt is recorded
/// with its own failure class, the daemon stays healthy (a good webhook keeps getting its events,
/// it stops cleanly) and its memory stays bounded.
@Suite(.timeLimit(.minutes(3))) struct HostileEndpointTests {
    /// How each misbehaviour must show in the delivery log.
    struct Expectation {
        let name: String
        let url: String
        let failureClass: String
        let statusCode: Int?
    }

    @Test func eachMisbehaviourIsItsOwnFailureAndTheDaemonStaysHealthy() async throws {
        let harness = try Harness(retrySchedule: "0,0.2,0.4")
        defer { harness.remove() }
        let tls = try await TLSServer.start(in: harness.directory)
        defer { tls.stop() }

        let slow = try await TestReceiver.start { _ in Response.status(200).delayed(by: .seconds(30)) }
        let trickle = try await TestReceiver.start { _ in
            .trickle(String(repeating: "a", count: 60), interval: .seconds(1))
        }
        // A failure whose body never ends (a 2xx that is too long is a success: AcceptedTests).
        let huge = try await TestReceiver.start { _ in .huge(byteCount: 100_000_000, status: 500) }
        let reset = try await TestReceiver.start { _ in .resetMidResponse(declaredLength: 10_000, sentBytes: 100) }
        let closed = try await TestReceiver.start()
        let closedURL = closed.url
        try await closed.shutdown()
        let target = try await TestReceiver.start()
        let moved = try await TestReceiver.start { _ in .status(301, headers: [("Location", target.url)]) }
        let found = try await TestReceiver.start { _ in .status(302, headers: [("Location", target.url)]) }
        let gone = try await TestReceiver.start { _ in .status(410, body: "this endpoint was removed") }
        let healthy = try await TestReceiver.start()
        let receivers = [slow, trickle, huge, reset, target, moved, found, gone, healthy]
        defer { Task { for receiver in receivers { try? await receiver.shutdown() } } }

        let expectations = [
            Expectation(name: "slower than the timeout", url: slow.url, failureClass: "timeout", statusCode: nil),
            Expectation(
                name: "a body trickled a byte a second", url: trickle.url, failureClass: "timeout", statusCode: 200),
            Expectation(name: "a 100 MB response", url: huge.url, failureClass: "body_too_large", statusCode: 500),
            Expectation(name: "a reset mid-response", url: reset.url, failureClass: "network", statusCode: 200),
            Expectation(name: "a closed port", url: closedURL, failureClass: "connect", statusCode: nil),
            Expectation(
                name: "an untrusted certificate", url: "https://127.0.0.1:\(tls.port)/hook", failureClass: "tls",
                statusCode: nil),
            Expectation(
                name: "a name that does not resolve", url: "http://qr3-webhookd-test.invalid/hook", failureClass: "dns",
                statusCode: nil),
            Expectation(name: "a 301 redirect", url: moved.url, failureClass: "http_status", statusCode: 301),
            Expectation(name: "a 302 redirect", url: found.url, failureClass: "http_status", statusCode: 302),
            Expectation(name: "410 Gone", url: gone.url, failureClass: "http_status", statusCode: 410),
        ]
        // One workspace per endpoint, so each event goes to exactly one of them.
        var webhooks: [String: String] = [:]
        for (index, expectation) in expectations.enumerated() {
            webhooks[expectation.name] = try await harness.addWebhook(
                url: expectation.url, workspace: "ws_hostile_\(index)")
        }
        let healthyWebhook = try await harness.addWebhook(url: healthy.url, workspace: "ws_healthy")

        // Timeouts short enough for a quick test, long enough that a loaded machine (the suite
        // runs tests in parallel on two cores) does not turn a TLS or reset case into a timeout.
        let daemon = try await harness.startDaemon([
            "--request-timeout", "3", "--connect-timeout", "2", "--lease", "6", "--log-level", "trace",
        ])
        defer { daemon.stop() }
        let baseline = try #require(daemon.memory)
        try harness.insert(expectations.indices.map { ("ws_hostile_\($0)", "qr.created", "{}") })

        // While the hostile endpoints hold their connections, a good webhook still gets its events at once.
        _ = try await slow.waitForRequests(count: 1)
        _ = try await huge.waitForRequests(count: 1)
        let sentHealthy = ContinuousClock.now
        try harness.insert([("ws_healthy", "qr.created", #"{"ok":true}"#)])
        let healthyRequest = try #require(try await healthy.waitForRequests(count: 1).first)
        #expect(healthyRequest.receivedAt - sentHealthy < .seconds(2), "a good webhook is not held up by bad ones")

        // Every endpoint gets its three attempts, each recorded with the expected failure class.
        for expectation in expectations {
            let webhook = try #require(webhooks[expectation.name])
            let attempts = expectation.statusCode == 410 ? 1 : 3
            try await harness.eventually(timeout: .seconds(30), "\(attempts) attempts recorded for \(expectation.name)")
            {
                try harness.count("SELECT COUNT(*) FROM attempts WHERE webhook_id = ?", [webhook]) >= attempts
            }
            let log = try await harness.deliveryLog(webhook)
            #expect(log.count == attempts, "\(expectation.name): \(log.count) attempts")
            for attempt in log {
                #expect(attempt["status"] as? String == "failed", "\(expectation.name)")
                #expect(
                    attempt["failure_class"] as? String == expectation.failureClass,
                    "\(expectation.name): recorded as \(attempt["failure_class"] ?? "nothing"): \(attempt["response_excerpt"] ?? "")"
                )
                #expect(
                    attempt["status_code"] as? Int == expectation.statusCode,
                    "\(expectation.name): status \(attempt["status_code"] ?? "none")")
            }
        }

        // Redirects were not followed; 410 disabled its webhook at the first attempt, and its
        // delivery is held for when the webhook is enabled again.
        #expect(target.requests.isEmpty, "a redirect is never followed")
        let goneLog = try await harness.deliveryLog(try #require(webhooks["410 Gone"]))
        #expect(goneLog.first?["next_retry_at"] == nil)
        #expect(goneLog.first?["response_excerpt"] as? String == "this endpoint was removed")
        #expect(gone.requests.count == 1)
        let goneWebhook = try await harness.runCLI(["webhooks", "show", try #require(webhooks["410 Gone"]), "--json"])
        #expect(goneWebhook.stdout.contains(#""is_active":false"#))
        #expect(goneWebhook.stdout.contains(#""held_deliveries":1"#))
        #expect(tls.log.contains("handshake failed") && !tls.log.contains("request received"))
        // The huge body was not read to its end.
        #expect(huge.bodyBytesSent < 50_000_000, "\(huge.bodyBytesSent) bytes of the 100 MB body were sent")

        // The daemon is healthy: alive, memory bounded, still delivering, and it stops cleanly.
        let memory = try #require(daemon.memory)
        let grownMiB = (memory.peakResidentKiB - baseline.peakResidentKiB) / 1024
        #expect(grownMiB < 32, "peak memory grew by \(grownMiB) MiB (at start: \(baseline); now: \(memory))")
        print(
            "hostile endpoints: \(expectations.count) kinds, 3 attempts each; daemon at start \(baseline), after \(memory)"
        )
        try harness.insert([("ws_healthy", "qr.created", #"{"ok":2}"#)])
        _ = try await healthy.waitForRequests(count: 2)
        try await daemon.waitForLog("Delivered", occurrences: 2)
        #expect(try await harness.deliveryLog(healthyWebhook).allSatisfy { $0["status"] as? String == "success" })
        #expect(!daemon.log.contains("<3>") && !daemon.log.contains("<2>"), "no error was logged:\n\(daemon.log)")
        #expect(try await harness.statusReport()["failed"] as? Int == expectations.count - 1)
        daemon.send(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
    }

    /// `429` and `503` with `Retry-After` put the next attempt no earlier than asked, whatever the schedule says.
    @Test(arguments: [429, 503])
    func retryAfterIsHonoured(status: Int) async throws {
        let harness = try Harness(retrySchedule: "0,0.1,0.1")
        defer { harness.remove() }
        let receiver = try await TestReceiver.start { request in
            request.header("X-QR3-Delivery-Attempt") == "1"
                ? .status(status, headers: [("Retry-After", "2")], body: "slow down") : .status(200)
        }
        defer { Task { try? await receiver.shutdown() } }
        let webhook = try await harness.addWebhook(url: receiver.url)
        let daemon = try await harness.startDaemon()
        defer { daemon.stop() }
        try harness.insert([("ws_test", "qr.created", "{}")])

        let requests = try await receiver.waitForRequests(count: 2, timeout: .seconds(15))
        #expect(requests[1].receivedAt - requests[0].receivedAt >= .seconds(2), "the retry waited for Retry-After")
        try await daemon.waitForLog("Delivered")
        let log = try await harness.deliveryLog(webhook)
        #expect(log.map { $0["status_code"] as? Int } == [200, status])
        let first = try #require(log.last)
        let createdAt = try #require(Timestamp(iso8601: first["created_at"] as? String ?? ""))
        let nextRetry = try #require(Timestamp(iso8601: first["next_retry_at"] as? String ?? ""))
        #expect(
            nextRetry.milliseconds - createdAt.milliseconds >= 2000,
            "next_retry_at \(nextRetry) is 2 s after \(createdAt)")
    }

    /// `Retry-After` may also be an HTTP date (RFC 9110): honoured the same way.
    @Test func retryAfterAsAnHTTPDateIsHonoured() async throws {
        let harness = try Harness(retrySchedule: "0,0.1,0.1")
        defer { harness.remove() }
        let receiver = try await TestReceiver.start { request in
            guard request.header("X-QR3-Delivery-Attempt") == "1" else { return .status(200) }
            return .status(503, headers: [("Retry-After", httpDate(Date().addingTimeInterval(3)))])
        }
        defer { Task { try? await receiver.shutdown() } }
        let webhook = try await harness.addWebhook(url: receiver.url)
        let daemon = try await harness.startDaemon()
        defer { daemon.stop() }
        try harness.insert([("ws_test", "qr.created", "{}")])

        let requests = try await receiver.waitForRequests(count: 2, timeout: .seconds(15))
        // The date has whole seconds: 3 s ahead is at least 2 s ahead once truncated.
        #expect(requests[1].receivedAt - requests[0].receivedAt >= .seconds(2), "the retry waited for the date")
        let first = try #require(try await harness.deliveryLog(webhook).last)
        let createdAt = try #require(Timestamp(iso8601: first["created_at"] as? String ?? ""))
        let nextRetry = try #require(Timestamp(iso8601: first["next_retry_at"] as? String ?? ""))
        #expect(
            nextRetry.milliseconds - createdAt.milliseconds >= 2000, "next_retry_at \(nextRetry) after \(createdAt)")
    }

    /// A `Retry-After` far in the future is capped at an hour, so a receiver cannot park its events for good.
    @Test func anAbsurdRetryAfterIsCappedAtAnHour() async throws {
        let harness = try Harness(retrySchedule: "0,1,1")
        defer { harness.remove() }
        let receiver = try await TestReceiver.start { _ in .status(429, headers: [("Retry-After", "999999999")]) }
        defer { Task { try? await receiver.shutdown() } }
        let webhook = try await harness.addWebhook(url: receiver.url)
        let daemon = try await harness.startDaemon()
        defer { daemon.stop() }
        try harness.insert([("ws_test", "qr.created", "{}")])
        try await daemon.waitForLog("Delivery attempt failed")
        let first = try #require(try await harness.deliveryLog(webhook).first)
        let createdAt = try #require(Timestamp(iso8601: first["created_at"] as? String ?? ""))
        let nextRetry = try #require(Timestamp(iso8601: first["next_retry_at"] as? String ?? ""))
        #expect(nextRetry.milliseconds - createdAt.milliseconds == 3_600_000)
    }
}

/// `tls_server.py` with a fresh self-signed certificate: every client that checks certificates fails the handshake.
struct TLSServer {
    let process: DaemonProcess
    let port: Int

    static func start(in directory: TemporaryDirectory) async throws -> TLSServer {
        let certificate = directory.file("cert.pem")
        let key = directory.file("key.pem")
        let made = try runTool(
            "/usr/bin/env",
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", key, "-out", certificate, "-days", "1", "-subj", "/CN=127.0.0.1",
            ]
        )
        guard made.status == 0 else { throw TestFailure("openssl req failed: \(made.stderr)") }
        let process = try DaemonProcess(
            executable: "/usr/bin/env",
            arguments: ["python3", fixtures.appendingPathComponent("receivers/tls_server.py").path, certificate, key]
        )
        try await process.waitForLog("listening on ")
        let line = process.log.split(separator: "\n").first { $0.hasPrefix("listening on ") } ?? ""
        guard let port = Int(line.dropFirst("listening on ".count)) else {
            process.stop()
            throw TestFailure("tls_server.py said: \(process.log)")
        }
        return TLSServer(process: process, port: port)
    }

    /// What the server wrote: one line per connection.
    var log: String { process.log }

    func stop() { process.stop() }
}

/// `date` as an HTTP date (RFC 9110), `Sun, 06 Nov 1994 08:49:37 GMT`, from the C library: Foundation's
/// DateFormatter, made on a receiver's event loop thread, crashed the test process once (a bad
/// pointer in CFTimeZoneCreateWithName while other threads made their own).
private func httpDate(_ date: Date) -> String {
    var seconds = time_t(date.timeIntervalSince1970)
    var parts = tm()
    gmtime_r(&seconds, &parts)
    let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
        + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
}
