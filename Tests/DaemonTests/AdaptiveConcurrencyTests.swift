import Foundation
import Synchronization
import Testing
import WebhookTestSupport

/// Each webhook's in-flight limit follows its receiver: it grows while answers are 2xx and quick,
/// stays under `per-webhook-concurrency`, and comes down when the receiver says it is overloaded.
@Suite(.timeLimit(.minutes(2))) struct AdaptiveConcurrencyTests {
    @Test func aWebhooksLimitGrowsToTheCeilingAgainstAFastReceiverAndHalvesOnOverload() async throws {
        let harness = try Harness(retrySchedule: "0,0.1,0.1,0.1,0.1")
        defer { harness.remove() }
        // Every answer is held for a while, so requests that arrive less than that apart were open
        // at the same time. Then the receiver turns to 503 (no Retry-After), then to timeouts.
        let hold = Duration.milliseconds(100)
        let answer = Mutex<Int>(200)
        let receiver = try await TestReceiver.start { _ in
            switch answer.withLock({ $0 }) {
            case 200: Response.status(200).delayed(by: hold)
            case 0: Response.status(200).delayed(by: .seconds(3))
            case let status: Response.status(status)
            }
        }
        defer { Task { try? await receiver.shutdown() } }
        let webhook = try harness.createWebhook(url: receiver.url)
        let ceiling = 24
        let key = try harness.apiKey()
        let daemon = try await harness.startDaemon([
            "--per-webhook-concurrency", "\(ceiling)", "--request-timeout", "1", "--lease", "4", "--disable-after",
            "100",
            "--status-interval", "0.1",
        ])
        defer { daemon.stop() }
        let api = try await harness.apiClient(daemon).authorized(key)
        func apiLimit() async throws -> Int? {
            let answer = try await api.send("GET", "/v1/webhooks/\(webhook)")
            let object = try JSONSerialization.jsonObject(with: Data(answer.text.utf8)) as? [String: Any]
            return object?["concurrency_limit"] as? Int
        }
        // Before its first attempt the webhook is at the start, 16.
        #expect(try await apiLimit() == 16)
        let endpoint = try await daemon.loggedAddress("API listening")
        let series = "qr3_webhookd_webhook_concurrency_limit{webhook_id=\"\(webhook)\"}"

        let count = 600
        try harness.insert(Array(repeating: ("ws_test", "qr.created", "{}"), count: count))
        var seen: [Int] = []
        let grown = try await scrapeUntil(endpoint, "the limit at the ceiling") { metrics in
            if let limit = metrics[series].map(Int.init), seen.last != limit { seen.append(limit) }
            return metrics[series] == Double(ceiling)
        }
        #expect(grown[series] == Double(ceiling))
        // The API's webhook object and `status` show it too. Read until it shows the ceiling: on a
        // loaded machine a slow answer can halve the limit between the scrape and the read, and
        // the next answers grow it again.
        var shown: [Int?] = []
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline, shown.last != ceiling {
            shown.append(try await apiLimit())
            if shown.last != ceiling { try await Task.sleep(for: .milliseconds(50)) }
        }
        // The API shows a grown limit, never above the ceiling (on a loaded machine it may not
        // stay at the ceiling between two reads).
        // A fresh-clone run with the PostgreSQL tests beside it slowed the answers enough to halve
        // the limit again and again right after it reached the ceiling (the API read 4 to 13), so
        // the API is also compared with the metric once nothing is in flight, below.
        #expect(shown.allSatisfy { ($0 ?? 0) >= 1 && ($0 ?? 0) <= ceiling }, "within the ceiling: \(shown)")
        try await harness.eventually("status shows the limit") {
            let limits = try harness.status()["concurrency_limits"] as? [String: Any]
            let lowest = limits?["lowest_webhooks"] as? [[String: Any]]
            return limits?["ceiling"] as? Int == ceiling && lowest?.first?["id"] as? String == webhook
                && (lowest?.first?["limit"] as? Int).map { $0 >= 1 && $0 <= ceiling } == true
        }
        try await harness.eventually(timeout: .seconds(60), "all \(count) delivered") {
            try harness.count("SELECT COUNT(*) FROM jobs WHERE state = 'delivered'") == count
        }
        // With nothing in flight the limit holds still: the API shows what the metric shows.
        let settled = try await scrapeUntil(endpoint, "the settled limit") { $0[series] != nil }
        #expect(try await apiLimit().map(Double.init) == settled[series], "the API and the metric agree")
        let arrivals = receiver.requests.map(\.receivedAt).sorted()
        let mostOpen = arrivals.indices.map { i in arrivals[...i].count { arrivals[i] - $0 < hold } }.max() ?? 0
        // The first requests went out under the starting limit, 16: no more can have arrived
        // before the first answer, `hold` after the first request.
        let firstWave = arrivals.count { $0 - arrivals[0] < hold }
        print(
            "requests open in the first round trip:", firstWave, "limits scraped:", seen,
            "most requests open at once:", mostOpen, "ceiling:", ceiling)
        #expect(firstWave <= 16)
        // Never above the ceiling; on the way up a slow answer on a loaded machine may halve it
        // for a moment, so the path need not rise steadily.
        #expect(seen.allSatisfy { $0 <= ceiling }, "limits scraped: \(seen)")
        #expect(seen.contains { $0 > 16 }, "the limit grew past its start: \(seen)")
        // Requests open at once, read from arrival times: past the start, never past the ceiling
        // (a full run on a loaded machine spread the arrivals enough to read 22 of 24).
        #expect(mostOpen > 16 && mostOpen <= ceiling, "grown past the start, never past the ceiling: \(mostOpen)")

        // Overload: a 503 halves the limit.
        answer.withLock { $0 = 503 }
        try harness.insert(Array(repeating: ("ws_test", "qr.created", "{}"), count: 50))
        let afterOverload = try await scrapeUntil(endpoint, "the limit halved by 503") {
            ($0[series] ?? 99) <= Double(ceiling / 2)
        }
        // A 429 then halves it again (the receiver recovers between the two, so the circuit lets
        // the waiting deliveries flow again first).
        answer.withLock { $0 = 429 }
        let after429 = try await scrapeUntil(endpoint, "the limit halved by 429") {
            ($0[series] ?? 99) <= Double(ceiling / 4)
        }
        // Timeouts shrink it too.
        answer.withLock { $0 = 0 }
        let afterTimeouts = try await scrapeUntil(endpoint, "the limit halved by timeouts") {
            ($0[series] ?? 99) <= Double(ceiling / 8)
        }
        print(
            "limit after 503:", afterOverload[series] ?? -1, "after 429:", after429[series] ?? -1,
            "after timeouts:", afterTimeouts[series] ?? -1)
    }

    private func scrapeUntil(
        _ endpoint: String, _ what: String, timeout: Duration = .seconds(30), condition: (MetricsText) -> Bool
    ) async throws -> MetricsText {
        let deadline = ContinuousClock.now + timeout
        while true {
            let samples = MetricsText(try await HTTPGet.fetch("http://\(endpoint)/metrics").body)
            if condition(samples) { return samples }
            guard ContinuousClock.now < deadline else {
                throw TestFailure("metrics never showed \(what); last scrape: \(samples.samples)")
            }
            // Polling an endpoint: there is no event to wait on from outside the daemon.
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
