import Foundation
import Testing
import WebhookTestSupport

/// Prometheus metrics scraped from the real binary's metrics listener while it delivers.
@Suite(.timeLimit(.minutes(2))) struct MetricsEndpointTests {
    @Test func metricsFollowDeliveriesFailuresAndTheQueue() async throws {
        let harness = try Harness(retrySchedule: "0,0.1,0.1")
        defer { harness.remove() }
        let good = try await TestReceiver.start { _ in .status(200) }
        let bad = try await TestReceiver.start { _ in .status(500) }
        defer {
            Task {
                try? await good.shutdown(); try? await bad.shutdown()
            }
        }
        _ = try harness.createWebhook(url: good.url, events: "qr.created")
        _ = try harness.createWebhook(url: bad.url, events: "qr.deleted")
        // By default the API serves /metrics beside /v1.
        let daemon = try await harness.startDaemon(["--status-interval", "0.1"])
        defer { daemon.stop() }
        let endpoint = try await daemon.loggedAddress("API listening")
        #expect(!daemon.log.contains("Metrics listening"))

        let before = try await scrape(endpoint)
        #expect(before[success] == 0)
        #expect(before["qr3_webhookd_webhooks{state=\"active\"}"] == 2)
        #expect(before["qr3_webhookd_build_info{version=\"0.1.0\"}"] == 1)

        try harness.insert([
            ("ws_test", "qr.created", "{}"), ("ws_test", "qr.created", "{}"), ("ws_test", "qr.deleted", "{}"),
        ])
        _ = try await good.waitForRequests(count: 2)
        _ = try await bad.waitForRequests(count: 3)
        let after = try await scrapeUntil(endpoint, "three failed attempts recorded") {
            $0[httpFailure] == 3 && $0["qr3_webhookd_deliveries_failed_total"] == 1
        }
        #expect(after[success] == 2)
        #expect(after["qr3_webhookd_events_ingested_total"] == 3)
        #expect(after["qr3_webhookd_jobs_created_total"] == 3)
        #expect(after["qr3_webhookd_delivery_response_seconds_count"] == 5)
        #expect(after["qr3_webhookd_delivery_end_to_end_seconds_count"] == 2, "successes only")
        #expect(after["qr3_webhookd_requests_in_flight"] == 0)

        // Queue gauges come from the database every status-interval.
        try harness.insert([("ws_test", "no.such.type", "{}")])
        let queue = try await scrapeUntil(endpoint, "the rejected row in the gauges") {
            $0["qr3_webhookd_rejected_outbox_rows"] == 1
        }
        #expect(queue["qr3_webhookd_outbox_rows_rejected_total"] == 1)
        #expect(queue["qr3_webhookd_jobs_due"] == 0)
        #expect(queue["qr3_webhookd_jobs_pending"] == 0)
        #expect(queue["qr3_webhookd_database_busy_retries_total"] != nil)

        #expect(try await HTTPGet.fetch("http://\(endpoint)/other").status == 404)
        daemon.send(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
    }

    @Test func aLeaseThatRanOutIsCountedAndLoggedAsAWarning() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let hang = Hang()
        let receiver = try await TestReceiver.start { _ in hang.isOn ? .noAnswer : .status(200) }
        defer { Task { try? await receiver.shutdown() } }
        _ = try harness.createWebhook(url: receiver.url)
        // The request hangs for longer than the kill takes on a loaded machine: with a 1 s request
        // timeout a full run's load let the first daemon record the attempt as timed out before it
        // was killed, and there was no lease left to run out.
        let first = try await harness.startDaemon(["--request-timeout", "5", "--lease", "10"])
        try harness.insert([("ws_test", "qr.created", "{}")], eventIDs: ["evt_reclaimed"])
        _ = try await receiver.waitForRequests(count: 1)
        first.send(SIGKILL)
        _ = try await first.waitForExit()
        hang.isOn = false
        // Metrics on a listener of their own: the API serves none.
        let second = try await harness.startDaemon(["--metrics-listen", "127.0.0.1:0"])
        defer { second.stop() }
        try await second.waitForLog("<4>Lease expired; job claimed again ", timeout: .seconds(40))
        #expect(second.log.contains("event_id=evt_reclaimed"))
        let endpoint = try await second.loggedAddress("Metrics listening")
        let api = try await second.loggedAddress("API listening")
        #expect(try await HTTPGet.fetch("http://\(api)/metrics").status == 404)
        #expect(try await HTTPGet.fetch("http://\(endpoint)/other").status == 404)
        let samples = try await scrapeUntil(endpoint, "one lease reclaim") {
            $0["qr3_webhookd_lease_reclaims_total"] == 1
        }
        #expect(samples["qr3_webhookd_lease_reclaims_total"] == 1)
    }

    private let success = "qr3_webhookd_delivery_attempts_total{outcome=\"success\",failure_class=\"none\"}"
    private let httpFailure = "qr3_webhookd_delivery_attempts_total{outcome=\"failure\",failure_class=\"http_status\"}"

    private func scrape(_ endpoint: String) async throws -> MetricsText {
        let response = try await HTTPGet.fetch("http://\(endpoint)/metrics")
        #expect(response.status == 200)
        #expect(response.contentType?.hasPrefix("text/plain; version=0.0.4") == true)
        return MetricsText(response.body)
    }

    /// Scrapes until `condition` holds (bounded): counters move as the daemon records attempts.
    private func scrapeUntil(
        _ endpoint: String,
        _ what: String,
        timeout: Duration = .seconds(20),
        condition: (MetricsText) -> Bool
    ) async throws -> MetricsText {
        let deadline = ContinuousClock.now + timeout
        var pause = Duration.milliseconds(10)
        while true {
            let samples = try await scrape(endpoint)
            if condition(samples) { return samples }
            guard ContinuousClock.now < deadline else {
                throw TestFailure("metrics never showed \(what); last scrape: \(samples.samples)")
            }
            // Polling an endpoint: there is no event to wait on from outside the daemon.
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(200))
        }
    }
}
