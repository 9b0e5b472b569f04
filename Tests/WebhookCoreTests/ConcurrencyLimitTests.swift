import Testing
import WebhookCore

@Suite struct ConcurrencyLimitTests {
    let start = Timestamp(milliseconds: 1_000_000)

    /// Sends `count` rounds of the limit's worth of 2xx answers taking `latency`, one round trip each.
    func fastRounds(_ limit: inout ConcurrencyLimit, _ count: Int, latency: Duration, from time: inout Timestamp) {
        for _ in 0..<count {
            time = time.adding(milliseconds: latency.inMilliseconds)
            for _ in 0..<limit.limit { limit.onSuccess(latency: latency, now: time) }
        }
    }

    @Test func growsAgainstAFastReceiverUpToTheCeilingAndNeverBeyond() {
        var limit = ConcurrencyLimit(policy: .init(initial: 4, ceiling: 100))
        var now = start
        #expect(limit.limit == 4)
        var seen = [limit.limit]
        for _ in 0..<200 {
            fastRounds(&limit, 1, latency: .milliseconds(20), from: &now)
            seen.append(limit.limit)
            #expect(limit.limit <= 100)
        }
        // Slow start doubles it every round trip: 4, 8, 16, 32, 64, then the ceiling.
        #expect(Array(seen.prefix(6)) == [4, 8, 16, 32, 64, 100])
        #expect(limit.limit == 100)
        print("limit per round trip against a 20 ms receiver:", seen.prefix(8).map(String.init).joined(separator: " "))
    }

    @Test func halvesOn429And503AndTimeoutsOncePerRoundTrip() {
        var limit = ConcurrencyLimit(policy: .init(initial: 64, ceiling: 256))
        var now = start
        fastRounds(&limit, 1, latency: .milliseconds(100), from: &now)
        #expect(limit.limit == 128)
        let answers: [(String, DeliveryOutcome)] = [
            ("429", .answered(status: 429, responseTimeMs: 100)),
            ("503", .answered(status: 503, responseTimeMs: 100)),
            ("timeout", DeliveryOutcome(statusCode: nil, responseTimeMs: 10_000, failure: .timeout, excerpt: "")),
        ]
        var seen: [String] = ["\(limit.limit)"]
        for (name, outcome) in answers {
            #expect(ConcurrencyLimit.isOverload(outcome))
            let before = limit.limit
            now = now.adding(milliseconds: 200)
            #expect(limit.onOverload(now: now) == .decreased)
            #expect(limit.limit == before / 2)
            // The rest of the burst, answered within the same round trip, changes nothing more.
            for _ in 0..<10 { #expect(limit.onOverload(now: now.adding(milliseconds: 50)) == .unchanged) }
            #expect(limit.limit == before / 2)
            seen.append("\(name) -> \(limit.limit)")
        }
        print("limit after each overload:", seen.joined(separator: ", "))
        // Then it grows again, by one a round trip (no more slow start), never below one.
        let after = limit.limit
        fastRounds(&limit, 3, latency: .milliseconds(100), from: &now)
        #expect(limit.limit == after + 3)
        for step in 0..<20 { limit.onOverload(now: now.adding(milliseconds: Int64(1000 * (step + 1)))) }
        #expect(limit.limit == 1)
    }

    @Test func otherFailuresLeaveItToTheCircuit() {
        #expect(!ConcurrencyLimit.isOverload(.answered(status: 500, responseTimeMs: 5)))
        #expect(!ConcurrencyLimit.isOverload(.answered(status: 404, responseTimeMs: 5)))
        #expect(
            !ConcurrencyLimit.isOverload(
                DeliveryOutcome(statusCode: nil, responseTimeMs: 1, failure: .connect, excerpt: "")))
        var limits = ConcurrencyLimits(policy: .init(initial: 8, ceiling: 32))
        #expect(
            limits.record(webhookID: "wh_a", outcome: .answered(status: 500, responseTimeMs: 5), now: start)
                == .unchanged)
        #expect(limits.limit(of: "wh_a") == 8)
        #expect(
            limits.record(webhookID: "wh_a", outcome: .answered(status: 200, responseTimeMs: 5), now: start)
                == .increased)
        #expect(limits.limits == ["wh_a": 9])
        #expect(
            limits.record(webhookID: "wh_a", outcome: .answered(status: 429, responseTimeMs: 5), now: start)
                == .decreased)
        #expect(limits.limit(of: "wh_a") == 4)
        #expect(limits.limit(of: "wh_b") == 8)
    }

    @Test func risingResponseTimesShrinkItAndASlowButSteadyReceiverGrows() {
        // A receiver that always takes 2 s is slow, not overloaded: it grows to the ceiling.
        var steady = ConcurrencyLimit(policy: .init(initial: 16, ceiling: 64))
        var now = start
        fastRounds(&steady, 10, latency: .seconds(2), from: &now)
        #expect(steady.limit == 64)
        // One whose answers go from 20 ms to 400 ms is queueing: the limit comes down.
        var queueing = ConcurrencyLimit(policy: .init(initial: 16, ceiling: 64))
        fastRounds(&queueing, 2, latency: .milliseconds(20), from: &now)
        let grown = queueing.limit
        #expect(grown == 64)
        fastRounds(&queueing, 2, latency: .milliseconds(400), from: &now)
        #expect(queueing.limit < grown)
        #expect(!queueing.slowStart)
        // A receiver slower for good is the new normal once the baseline period has passed.
        let shrunk = queueing.limit
        fastRounds(&queueing, 400, latency: .milliseconds(400), from: &now)
        #expect(queueing.limit > shrunk)
        #expect(queueing.baselineLatencyMs == 400)
    }

    @Test func aWebhookThatDoesNotUseItsLimitDoesNotGrowIt() {
        var limit = ConcurrencyLimit(policy: .init(initial: 16, ceiling: 256))
        // A trickle: one request at a time, each answered in 5 ms.
        for step in 0..<1000 {
            limit.onSuccess(latency: .milliseconds(5), now: start.adding(milliseconds: Int64(step * 100)), inFlight: 1)
        }
        #expect(limit.limit == 16)
        // A burst that fills half the limit or more grows it.
        limit.onSuccess(latency: .milliseconds(5), now: start.adding(seconds: 200), inFlight: 8)
        #expect(limit.limit == 17)
    }

    @Test func theCeilingIsTheConfiguredValueAndTheStartNeverExceedsIt() {
        let low = ConcurrencyLimit(policy: .init(initial: 16, ceiling: 4))
        #expect(low.limit == 4)
        var limit = low
        var now = start
        fastRounds(&limit, 10, latency: .milliseconds(1), from: &now)
        #expect(limit.limit == 4)
    }
}
