import Testing
import WebhookCore

/// The job rules, decided without I/O: the circuit, counted failures, disabling, Retry-After,
/// 410 Gone, held jobs and recovery probes.
@Suite struct DeliveryRulesTests {
    let rules = DeliveryRules()
    let t0 = Timestamp(milliseconds: 1_000_000)
    let refused = DeliveryOutcome(statusCode: nil, responseTimeMs: 1, failure: .connect)
    let ok = DeliveryOutcome.answered(status: 200, responseTimeMs: 5)

    /// An attempt claimed when its webhook had `failures` counted failures.
    func attempt(
        _ number: Int = 1, claimedAfter failures: Int, at finished: Timestamp, _ outcome: DeliveryOutcome,
        probe: Bool = false
    ) -> DeliveryRules.Attempt {
        DeliveryRules.Attempt(
            number: number, failuresWhenClaimed: failures, finishedAt: finished, outcome: outcome,
            isRecoveryProbe: probe)
    }

    @Test func theFirstFailureOpensTheCircuitAndPausesTheWebhookForTheSchedulesDelay() {
        let verdict = rules.decide(
            attempt(claimedAfter: 0, at: t0.adding(seconds: 1), refused), circuit: .closed, webhookActive: true)
        #expect(verdict.countedFailure)
        #expect(verdict.webhook == .startedFailing)
        #expect(verdict.circuit.consecutiveFailures == 1)
        #expect(verdict.circuit.failingSince == t0.adding(seconds: 1))
        #expect(verdict.circuit.pausedUntil == t0.adding(seconds: 61))
        #expect(verdict.job == .retry(at: t0.adding(seconds: 61)))
        // While paused, nothing of the webhook is claimed; then one probe at a time.
        #expect(verdict.circuit.capacity(limit: 16, now: t0.adding(seconds: 30)) == 0)
        #expect(verdict.circuit.capacity(limit: 16, now: t0.adding(seconds: 61)) == 1)
        #expect(WebhookCircuit.closed.capacity(limit: 16, now: t0) == 16)
    }

    @Test func aBurstOfFailuresOfAttemptsAlreadyInFlightCountsOnce() {
        // Sixteen requests go out together; the receiver goes away; all sixteen fail.
        var circuit = WebhookCircuit.closed
        var counted = 0
        for index in 0..<16 {
            let finished = t0.adding(milliseconds: 100 + Int64(index))
            let verdict = rules.decide(
                attempt(claimedAfter: 0, at: finished, refused), circuit: circuit, webhookActive: true)
            circuit = verdict.circuit
            if verdict.countedFailure { counted += 1 }
            // Each spent its own attempt, and is retried on its own schedule.
            #expect(verdict.job == .retry(at: finished.adding(seconds: 60)))
        }
        #expect(counted == 1)
        #expect(circuit.consecutiveFailures == 1)
        #expect(circuit.pausedUntil == t0.adding(milliseconds: 100).adding(seconds: 60))
    }

    @Test func tenSequentialProbesThatFailDisableTheWebhookAfterFortyOneMinutes() {
        var circuit = WebhookCircuit.closed
        var now = t0
        var steps: [DeliveryRules.WebhookStep] = []
        for number in 1...10 {
            // Each probe is claimed once the pause is over, after the failure before it.
            let claimed = circuit.pausedUntil ?? now
            #expect(circuit.capacity(limit: 16, now: claimed) == (circuit.isOpen ? 1 : 16))
            now = claimed.adding(milliseconds: 20)
            let verdict = rules.decide(
                attempt(min(number, 3), claimedAfter: circuit.consecutiveFailures, at: now, refused), circuit: circuit,
                webhookActive: true)
            #expect(verdict.countedFailure)
            circuit = verdict.circuit
            steps.append(verdict.webhook)
            if number == 10 {
                #expect(verdict.job == .failed, "its third attempt was its last")
            }
        }
        #expect(steps.first == .startedFailing)
        #expect(steps[1..<9].allSatisfy { $0 == .unchanged })
        #expect(steps.last == .disable(.consecutiveFailures(count: 10, since: t0.adding(milliseconds: 20))))
        // 0, +60, +300, then every 300 s: the tenth failure comes 2,460 s after the first.
        #expect(rules.timeUntilDisabled == 2460)
        let elapsed = Double(now.milliseconds - t0.adding(milliseconds: 20).milliseconds) / 1000
        #expect(elapsed >= 2460 && elapsed < 2461)
        #expect(
            DeliveryRules.DisableReason.consecutiveFailures(count: 10, since: t0).description(
                at: t0.adding(seconds: 2460))
                == "10 consecutive failed attempts over 41 min")
        #expect(DeliveryRules(retryPolicy: RetryPolicy(schedule: [0, 1, 2])).timeUntilDisabled == 17)
    }

    @Test func aSuccessClosesTheCircuitAndResetsTheCount() {
        let open = WebhookCircuit(
            consecutiveFailures: 4, failingSince: t0, lastFailureAt: t0.adding(seconds: 600),
            pausedUntil: t0.adding(seconds: 900))
        let verdict = rules.decide(
            attempt(2, claimedAfter: 4, at: t0.adding(seconds: 901), ok), circuit: open,
            webhookActive: true)
        #expect(verdict.job == .delivered)
        #expect(verdict.circuit == .closed)
        #expect(verdict.webhook == .recovered(failures: 4, since: t0))
        #expect(!verdict.countedFailure)
        #expect(verdict.circuit.capacity(limit: 16, now: t0.adding(seconds: 901)) == 16)
        // A success of a webhook that was not failing changes nothing.
        let plain = rules.decide(attempt(claimedAfter: 0, at: t0, ok), circuit: .closed, webhookActive: true)
        #expect(plain.webhook == .unchanged && plain.circuit == .closed)
    }

    @Test func retryAfterPausesTheWholeWebhookCappedAndCountsAtMostOnce() {
        let slowDown = DeliveryOutcome.answered(status: 429, responseTimeMs: 1, retryAfterSeconds: 600)
        let first = rules.decide(attempt(claimedAfter: 0, at: t0, slowDown), circuit: .closed, webhookActive: true)
        #expect(first.countedFailure)
        #expect(first.circuit.pausedUntil == t0.adding(seconds: 600), "longer than the schedule's 60 s")
        #expect(first.job == .retry(at: t0.adding(seconds: 600)))
        // Another 429 of a request that was already in flight: no second failure, same pause.
        let second = rules.decide(
            attempt(claimedAfter: 0, at: t0.adding(milliseconds: 3), slowDown),
            circuit: first.circuit, webhookActive: true)
        #expect(!second.countedFailure)
        #expect(second.circuit.consecutiveFailures == 1)
        #expect(second.circuit.pausedUntil == t0.adding(milliseconds: 3).adding(seconds: 600))
        // A 503 asking for a day is held to the cap (an hour by default).
        let greedy = DeliveryOutcome.answered(status: 503, responseTimeMs: 1, retryAfterSeconds: 86_400)
        let capped = rules.decide(attempt(claimedAfter: 0, at: t0, greedy), circuit: .closed, webhookActive: true)
        #expect(capped.circuit.pausedUntil == t0.adding(seconds: 3600))
        // Retry-After on another status is not a pause request.
        let other = DeliveryOutcome.answered(status: 500, responseTimeMs: 1, retryAfterSeconds: 600)
        #expect(
            rules.decide(attempt(claimedAfter: 0, at: t0, other), circuit: .closed, webhookActive: true).circuit
                .pausedUntil == t0.adding(seconds: 60))
    }

    @Test func goneDisablesAtOnceAndHoldsTheJob() {
        let gone = DeliveryOutcome.answered(status: 410, responseTimeMs: 1)
        let verdict = rules.decide(attempt(claimedAfter: 0, at: t0, gone), circuit: .closed, webhookActive: true)
        #expect(verdict.webhook == .disable(.gone))
        #expect(verdict.job == .held, "kept for when the webhook is enabled again")
        #expect(DeliveryRules.DisableReason.gone.source == "gone")
    }

    @Test func jobsKeepTheirAttemptsAndFailForGoodOnlyAfterTheirOwnLastAttempt() {
        let open = WebhookCircuit(consecutiveFailures: 5, failingSince: t0, lastFailureAt: t0, pausedUntil: t0)
        // A job that waited behind the open circuit makes its first attempt as the probe.
        let firstTry = rules.decide(
            attempt(1, claimedAfter: 5, at: t0.adding(seconds: 2), refused), circuit: open,
            webhookActive: true)
        #expect(firstTry.job == .retry(at: t0.adding(seconds: 62)))
        let lastTry = rules.decide(
            attempt(3, claimedAfter: 5, at: t0.adding(seconds: 2), refused), circuit: open,
            webhookActive: true)
        #expect(lastTry.job == .failed)
        // After the schedule is used up, probes keep going at its last delay.
        #expect(firstTry.circuit.pausedUntil == t0.adding(seconds: 302))
        #expect(rules.probeInterval(afterFailures: 1) == 60)
        #expect(rules.probeInterval(afterFailures: 7) == 300)
    }

    @Test func aDisabledWebhooksJobsAreHeldAndOnlyARecoveryProbeCanEnableIt() {
        #expect(DeliveryRules.newJobState(webhookActive: false) == .held)
        #expect(DeliveryRules.newJobState(webhookActive: true) == .pending)
        // The result of a request that was in flight when the webhook was disabled.
        let late = rules.decide(attempt(claimedAfter: 0, at: t0, refused), circuit: .closed, webhookActive: false)
        #expect(late.job == .held)
        #expect(late.webhook == .unchanged)
        let disabled = WebhookCircuit(consecutiveFailures: 10, failingSince: t0, lastFailureAt: t0, pausedUntil: t0)
        let probeFailed = rules.decide(
            attempt(claimedAfter: 10, at: t0.adding(seconds: 1), refused, probe: true), circuit: disabled,
            webhookActive: false)
        #expect(probeFailed.job == .failed && probeFailed.webhook == .unchanged && probeFailed.circuit == disabled)
        let probeAnswered = rules.decide(
            attempt(claimedAfter: 10, at: t0.adding(seconds: 1), ok, probe: true), circuit: disabled,
            webhookActive: false)
        #expect(probeAnswered.webhook == .enable)
        #expect(probeAnswered.circuit == .closed)
        #expect(probeAnswered.job == .delivered)
    }
}
