import Testing
import WebhookCore

@Suite struct RetryPolicyTests {
    let now = Timestamp(milliseconds: 1_000_000)
    let failed = DeliveryOutcome.answered(status: 500, responseTimeMs: 3)

    @Test func documentedScheduleRetriesAfterOneThenFiveMinutes() {
        let policy = RetryPolicy()
        #expect(policy.maximumAttempts == 3)
        #expect(policy.decide(attempt: 1, outcome: failed, now: now) == .retry(at: now.adding(seconds: 60)))
        #expect(policy.decide(attempt: 2, outcome: failed, now: now) == .retry(at: now.adding(seconds: 300)))
        #expect(policy.decide(attempt: 3, outcome: failed, now: now) == .giveUp)
    }

    @Test func successIsDelivered() {
        let ok = DeliveryOutcome.answered(status: 204, responseTimeMs: 1)
        #expect(RetryPolicy().decide(attempt: 3, outcome: ok, now: now) == .delivered)
    }

    @Test func redirectIsAFailure() {
        let redirect = DeliveryOutcome.answered(status: 301, responseTimeMs: 1)
        #expect(!redirect.isSuccess)
        #expect(redirect.failure == .httpStatus)
    }

    @Test func goneIsOneMoreFailureToThePolicy() {
        // What a 410 does to the webhook (disable it, hold its jobs) is DeliveryRules' decision.
        let gone = DeliveryOutcome.answered(status: 410, responseTimeMs: 1)
        #expect(RetryPolicy().decide(attempt: 1, outcome: gone, now: now) == .retry(at: now.adding(seconds: 60)))
        #expect(RetryPolicy().decide(attempt: 3, outcome: gone, now: now) == .giveUp)
    }

    @Test func retryAfterIsHonouredUpToTheCap() {
        let policy = RetryPolicy(schedule: [0, 1, 1], maximumRetryAfter: 120)
        let slowDown = DeliveryOutcome.answered(status: 429, responseTimeMs: 1, retryAfterSeconds: 30)
        #expect(policy.decide(attempt: 1, outcome: slowDown, now: now) == .retry(at: now.adding(seconds: 30)))
        let greedy = DeliveryOutcome.answered(status: 503, responseTimeMs: 1, retryAfterSeconds: 99999)
        #expect(policy.decide(attempt: 1, outcome: greedy, now: now) == .retry(at: now.adding(seconds: 120)))
        let ignored = DeliveryOutcome.answered(status: 500, responseTimeMs: 1, retryAfterSeconds: 30)
        #expect(policy.decide(attempt: 1, outcome: ignored, now: now) == .retry(at: now.adding(seconds: 1)))
    }

    @Test func parsesScaledDownSchedules() throws {
        #expect(try RetryPolicy(parsing: "0, 0.05,0.1").schedule == [0, 0.05, 0.1])
        #expect(throws: RetryPolicy.InvalidSchedule.self) { try RetryPolicy(parsing: "0,,1") }
        #expect(throws: RetryPolicy.InvalidSchedule.self) { try RetryPolicy(parsing: "0,-1") }
        #expect(throws: RetryPolicy.InvalidSchedule.self) { try RetryPolicy(parsing: "soon") }
    }
}
