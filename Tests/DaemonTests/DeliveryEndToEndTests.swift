import Foundation
import Testing
import WebhookCore
import WebhookTestSupport

@Suite(.timeLimit(.minutes(2))) struct DeliveryEndToEndTests {
    @Test func anInsertedEventArrivesSignedWithTheDocumentedHeaders() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let receiver = try await TestReceiver.start()
        defer { Task { try? await receiver.shutdown() } }
        let webhook = try harness.createWebhook(url: receiver.url, events: "qr.scanned")
        let daemon = try await harness.startDaemon()
        defer { daemon.stop() }

        try harness.insert(
            [("ws_test", "qr.scanned", #"{"code_id":"qr_abc123","country":"AT"}"#)], eventIDs: ["evt_readme"])
        let request = try #require(try await receiver.waitForRequests(count: 1).first)
        #expect(request.method == "POST")
        #expect(request.header("Content-Type") == "application/json")
        #expect(request.header("User-Agent")?.hasPrefix("qr3-webhookd/") == true)
        #expect(request.header("X-QR3-Event-Id") == "evt_readme")
        #expect(request.header("X-QR3-Event-Type") == "qr.scanned")
        #expect(request.header("X-QR3-Delivery-Attempt") == "1")
        #expect(request.header("X-QR3-Webhook-Id") == webhook)
        let signature = try #require(request.header("X-QR3-Signature"))
        #expect(WebhookSignature.verify(header: signature, body: request.body, secret: "test-secret-0123456789"))
        #expect(request.bodyText.hasPrefix(#"{"id":"evt_readme","type":"qr.scanned","created":""#))
        #expect(request.bodyText.hasSuffix(#"","data":{"code_id":"qr_abc123","country":"AT"}}"#))

        try await daemon.waitForLog("Delivered")
        let log = try harness.deliveries(webhook)
        #expect(log.count == 1)
        #expect(log.first?["status"] as? String == "success")
        #expect(log.first?["status_code"] as? Int == 200)
        #expect(log.first?["attempt"] as? Int == 1)
        #expect((log.first?["id"] as? String)?.hasPrefix("whd_") == true)
        #expect(!daemon.log.contains("test-secret-0123456789"), "the secret must never be logged")
    }

    @Test func fanOutFollowsSubscriptionsWildcardAndAlias() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let all = try await TestReceiver.start()
        let scans = try await TestReceiver.start()
        let created = try await TestReceiver.start()
        defer { Task { for receiver in [all, scans, created] { try? await receiver.shutdown() } } }
        _ = try harness.createWebhook(url: all.url, events: "*")
        _ = try harness.createWebhook(url: scans.url, events: "scan.created")
        _ = try harness.createWebhook(url: created.url, events: "qr.created")
        _ = try harness.createWebhook(url: created.url, events: "*", workspace: "ws_other")
        let daemon = try await harness.startDaemon()
        defer { daemon.stop() }
        try harness.insert([
            ("ws_test", "qr.scanned", "{}"), ("ws_test", "scan.created", "{}"), ("ws_test", "qr.created", "{}"),
            ("ws_test", "workspace.updated", "{}"),
        ])
        let allTypes = try await all.waitForRequests(count: 4).compactMap { $0.header("X-QR3-Event-Type") }
        #expect(allTypes.sorted() == ["qr.created", "qr.scanned", "scan.created", "workspace.updated"])
        let scanTypes = try await scans.waitForRequests(count: 2).compactMap { $0.header("X-QR3-Event-Type") }
        #expect(scanTypes.sorted() == ["qr.scanned", "scan.created"])
        let createdTypes = try await created.waitForRequests(count: 1).compactMap { $0.header("X-QR3-Event-Type") }
        #expect(createdTypes == ["qr.created"])
        try await daemon.waitForLog("Delivered", occurrences: 7)
        #expect(created.requests.count == 1, "the other workspace's webhook gets nothing")
    }

    @Test func failuresAreRetriedOnTheScheduleThenFailForGood() async throws {
        let harness = try Harness(retrySchedule: "0,0.3,0.6")
        defer { harness.remove() }
        let receiver = try await TestReceiver.start { _ in .status(503, body: "down for maintenance") }
        defer { Task { try? await receiver.shutdown() } }
        let webhook = try harness.createWebhook(url: receiver.url)
        let daemon = try await harness.startDaemon()
        defer { daemon.stop() }
        try harness.insert([("ws_test", "qr.created", #"{"code_id":"qr_1"}"#)])
        let requests = try await receiver.waitForRequests(count: 3)
        #expect(requests.map { $0.header("X-QR3-Delivery-Attempt") } == ["1", "2", "3"])
        #expect(Set(requests.map { $0.header("X-QR3-Event-Id") }).count == 1)
        let firstGap = requests[1].receivedAt - requests[0].receivedAt
        let secondGap = requests[2].receivedAt - requests[1].receivedAt
        #expect(firstGap >= .milliseconds(300))
        #expect(secondGap >= .milliseconds(600))
        try await daemon.waitForLog("Delivery failed after its last attempt")
        let log = try harness.deliveries(webhook)
        #expect(log.map { $0["attempt"] as? Int } == [3, 2, 1])
        #expect(log.allSatisfy { $0["status"] as? String == "failed" && $0["status_code"] as? Int == 503 })
        #expect(log.allSatisfy { $0["failure_class"] as? String == "http_status" })
        #expect(log.first?["response_excerpt"] as? String == "down for maintenance")
        #expect(log[0]["next_retry_at"] == nil && log[1]["next_retry_at"] != nil)
        #expect(try harness.status()["failed"] as? Int == 1)
        #expect(receiver.requests.count == 3)
    }

    @Test func aWebhookIsDisabledAfterExactlyTenConsecutiveFailures() async throws {
        let harness = try Harness(retrySchedule: "0")
        defer { harness.remove() }
        let receiver = try await TestReceiver.start { _ in .status(500) }
        defer { Task { try? await receiver.shutdown() } }
        let webhook = try harness.createWebhook(url: receiver.url)
        let daemon = try await harness.startDaemon(["--per-webhook-concurrency", "1"])
        defer { daemon.stop() }
        try harness.insert(Array(repeating: ("ws_test", "qr.scanned", "{}"), count: 13))
        try await daemon.waitForLog("Webhook disabled; its deliveries are held until it is enabled")
        try await daemon.waitForLog("Delivery attempt failed", occurrences: 10)
        let show = try harness.cli(["webhooks", "show", webhook, "--json"]).stdout
        #expect(show.contains(#""is_active":false"#))
        #expect(show.contains("10 consecutive failed attempts"))
        let status = try harness.status()
        #expect(status["paused"] as? Int == 3)
        #expect(status["disabled_webhooks"] as? Int == 1)
        #expect(receiver.requests.count == 10)
        #expect(try harness.deliveries(webhook).count == 10)

        // Enabling resets the count and resumes the paused deliveries.
        try harness.cli(["webhooks", "enable", webhook])
        _ = try await receiver.waitForRequests(count: 13)
    }

    @Test func concurrencyBoundsTheRequestsOnTheWireWhileTwiceAsManyAreClaimed() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        // Every answer is held for a while, so requests that arrive less than that apart were open
        // at the same time.
        let hold = Duration.milliseconds(200)
        let receiver = try await TestReceiver.start { _ in Response.status(200).delayed(by: hold) }
        defer { Task { try? await receiver.shutdown() } }
        _ = try harness.createWebhook(url: receiver.url)
        let daemon = try await harness.startDaemon(["--concurrency", "4"])
        defer { daemon.stop() }
        let count = 40
        try harness.insert(Array(repeating: ("ws_test", "qr.created", "{}"), count: count))
        var mostClaimed = 0
        try await harness.eventually("all \(count) requests received") {
            mostClaimed = max(mostClaimed, try harness.count("SELECT COUNT(*) FROM jobs WHERE lease_owner IS NOT NULL"))
            return receiver.requests.count >= count
        }
        try await harness.eventually("every attempt recorded") {
            try harness.count("SELECT COUNT(*) FROM attempts") == count
        }
        // A request that arrived less than `hold` before another was still unanswered when the
        // other arrived: the most such requests at any arrival is at most the requests on the wire.
        let arrivals = receiver.requests.map(\.receivedAt).sorted()
        let mostOpen = arrivals.indices.map { i in
            arrivals[...i].count { arrivals[i] - $0 < hold }
        }.max()
        #expect(mostOpen == 4, "never more than --concurrency requests on the wire, and every slot used")
        // Claims beyond the slots wait, signed, to start the moment a transfer ends; never more
        // than twice the slots, which bounds what a crash sends again.
        #expect(mostClaimed > 4 && mostClaimed <= 8, "claims held: \(mostClaimed)")
        #expect(try harness.count("SELECT COUNT(*) FROM jobs WHERE state = 'delivered'") == count)
    }

    @Test func aRedirectIsAFailureAndIsNotFollowed() async throws {
        let harness = try Harness(retrySchedule: "0")
        defer { harness.remove() }
        let target = try await TestReceiver.start()
        let redirecting = try await TestReceiver.start { _ in
            .status(302, headers: [("Location", target.url)])
        }
        defer {
            Task {
                try? await target.shutdown(); try? await redirecting.shutdown()
            }
        }
        let webhook = try harness.createWebhook(url: redirecting.url)
        let daemon = try await harness.startDaemon()
        defer { daemon.stop() }
        try harness.insert([("ws_test", "qr.created", "{}")])
        try await daemon.waitForLog("Delivery failed after its last attempt")
        let log = try harness.deliveries(webhook)
        #expect(log.first?["status_code"] as? Int == 302)
        #expect(log.first?["status"] as? String == "failed")
        #expect(target.requests.isEmpty)
    }

    @Test func aSlowReceiverTimesOut() async throws {
        let harness = try Harness(retrySchedule: "0")
        defer { harness.remove() }
        let receiver = try await TestReceiver.start { _ in Response.status(200).delayed(by: .seconds(5)) }
        defer { Task { try? await receiver.shutdown() } }
        let webhook = try harness.createWebhook(url: receiver.url)
        let daemon = try await harness.startDaemon([
            "--request-timeout", "0.4", "--connect-timeout", "0.4", "--lease", "2",
        ])
        defer { daemon.stop() }
        try harness.insert([("ws_test", "qr.created", "{}")])
        try await daemon.waitForLog("Delivery failed after its last attempt")
        let log = try harness.deliveries(webhook)
        #expect(log.first?["failure_class"] as? String == "timeout")
        #expect(log.first?["status_code"] == nil)
        // libcurl's timer fires on its own millisecond clock and the time is cut to whole
        // milliseconds, so a 400 ms timeout can read 399.
        #expect((log.first?["response_time_ms"] as? Int ?? 0) >= 390)
    }

    @Test func rejectedRowsAreSetAsideWithoutBlockingGoodOnes() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let receiver = try await TestReceiver.start()
        defer { Task { try? await receiver.shutdown() } }
        _ = try harness.createWebhook(url: receiver.url)
        let daemon = try await harness.startDaemon()
        defer { daemon.stop() }
        try harness.insert([
            ("ws_test", "qr.created", #"{"n":1}"#),
            ("ws_test", "qr.exploded", "{}"),
            ("ws_test", "qr.created", "{broken"),
            ("ws_test", "qr.created", "[1]"),
            (nil, "qr.created", "{}"),
            ("ws_test", "qr.created", nil),
            ("ws_test", "qr.created", #"{"n":2}"#),
        ])
        let bodies = try await receiver.waitForRequests(count: 2).map(\.bodyText)
        #expect(bodies.contains { $0.contains(#""data":{"n":1}"#) })
        #expect(bodies.contains { $0.contains(#""data":{"n":2}"#) })
        try await daemon.waitForLog("Outbox row rejected", occurrences: 5)
        #expect(daemon.log.contains("qr.exploded"))
        let status = try harness.status()
        #expect(status["rejected_events"] as? Int == 5)
        let reasons = (status["latest_rejections"] as? [[String: Any]] ?? []).compactMap { $0["reason"] as? String }
        #expect(reasons.contains { $0.contains("not valid JSON") })
        #expect(reasons.contains("data is missing"))
        #expect(reasons.contains("workspace_id is missing"))
    }
}
