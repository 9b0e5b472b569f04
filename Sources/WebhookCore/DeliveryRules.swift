/// The job rules every store applies: what a recorded attempt does to its job and its webhook.
///
/// Pure decisions, no I/O: a store reads the job's attempt and the webhook's ``WebhookCircuit``,
/// asks ``decide(_:circuit:webhookActive:)``, and writes back what the verdict says. The rules:
///
/// - A success delivers the job and closes the circuit.
/// - The first failure opens the circuit: the webhook's other jobs wait and keep their attempts;
///   one probe at a time goes out, the next no earlier than the retry schedule's delay for that
///   many failures (after the last delay, at that interval).
/// - Attempts that were already in flight when a failure was counted fail with it, as one
///   failure: a burst of refused connections is one failure, not ten.
/// - `disableAfter` counted failures in a row disable the webhook. With the default schedule
///   (`0,60,300`) and 10 failures, that is 41 minutes of failing probes (``timeUntilDisabled``).
/// - A `429` or `503` with `Retry-After` pauses the whole webhook at least that long (capped by
///   ``RetryPolicy/maximumRetryAfter``) and counts as one failure at most.
/// - A `410 Gone` disables the webhook at once: the receiver says it is gone for good. Its jobs
///   are held, not failed, so enabling the webhook again delivers them.
/// - A disabled webhook's jobs are held, never sent, until it is enabled (oldest first then);
///   only a recovery probe (a `webhook.ping`, see `recovery-probe-interval`) goes out, and its
///   success enables the webhook again.
/// - A job has failed for good only once its own attempts were made: the schedule's count.
public struct DeliveryRules: Sendable, Hashable {
    /// When a job's next attempt is due, and when it has none left.
    public var retryPolicy: RetryPolicy
    /// Counted failures in a row that disable a webhook.
    public var disableAfter: Int

    public init(retryPolicy: RetryPolicy = RetryPolicy(), disableAfter: Int = 10) {
        self.retryPolicy = retryPolicy
        self.disableAfter = max(1, disableAfter)
    }

    /// The state of a job.
    public enum JobState: String, Sendable, Hashable {
        /// Waiting for its next attempt, or in flight.
        case pending
        /// Its webhook is disabled: kept, and due again when the webhook is enabled.
        case held = "paused"
        case delivered
        /// Every attempt it had was made and failed.
        case failed
        /// Its webhook was deleted.
        case cancelled
    }

    /// The state a new job starts in: pending, or held for a disabled webhook.
    public static func newJobState(webhookActive: Bool) -> JobState {
        webhookActive ? .pending : .held
    }

    /// Why a webhook is disabled.
    public enum DisableReason: Sendable, Hashable {
        /// `count` counted failures in a row, the first at `since`.
        case consecutiveFailures(count: Int, since: Timestamp)
        /// The receiver answered `410 Gone`.
        case gone
        /// An operator or the customer disabled it.
        case byHand

        /// How the store records who disabled the webhook: `failures`, `gone` or `operator`.
        /// Recovery probes go to webhooks disabled by the first two only.
        public var source: String {
            switch self {
            case .consecutiveFailures: "failures"
            case .gone: "gone"
            case .byHand: "operator"
            }
        }

        /// The reason in words, as the webhook object shows it.
        public func description(at now: Timestamp) -> String {
            switch self {
            case .consecutiveFailures(let count, let since):
                let minutes = Double(max(0, now.milliseconds - since.milliseconds)) / 60_000
                let span = minutes < 1 ? "under a minute" : "\(Int(minutes.rounded())) min"
                return "\(count) consecutive failed attempts over \(span)"
            case .gone: return "the endpoint answered 410 Gone"
            case .byHand: return "disabled by hand"
            }
        }
    }

    /// One finished attempt, as the rules need it.
    public struct Attempt: Sendable, Hashable {
        /// The attempt's number within the job's current run of attempts (1 for the first; a
        /// recovered delivery starts a new run).
        public var number: Int
        /// The webhook's count of failures when the attempt was claimed: a failure counted since
        /// means the attempt was already in flight then, and fails with that outage.
        public var failuresWhenClaimed: Int
        public var finishedAt: Timestamp
        public var outcome: DeliveryOutcome
        /// A recovery probe of a disabled webhook (its success enables the webhook).
        public var isRecoveryProbe: Bool

        public init(
            number: Int, failuresWhenClaimed: Int, finishedAt: Timestamp, outcome: DeliveryOutcome,
            isRecoveryProbe: Bool = false
        ) {
            self.number = number
            self.failuresWhenClaimed = failuresWhenClaimed
            self.finishedAt = finishedAt
            self.outcome = outcome
            self.isRecoveryProbe = isRecoveryProbe
        }
    }

    /// What follows for the job.
    public enum JobStep: Sendable, Hashable {
        case delivered
        /// Its next attempt is due at this time.
        case retry(at: Timestamp)
        /// Its webhook is (now) disabled: held until it is enabled.
        case held
        /// Its last attempt failed.
        case failed

        /// The job's state after this step.
        public var state: JobState {
            switch self {
            case .delivered: .delivered
            case .retry: .pending
            case .held: .held
            case .failed: .failed
            }
        }
    }

    /// What changes for the webhook, beyond its circuit.
    public enum WebhookStep: Sendable, Hashable {
        case unchanged
        /// Its first failure since its last success: the circuit opened.
        case startedFailing
        /// A success after `failures` counted failures since `since`: the circuit closed.
        case recovered(failures: Int, since: Timestamp)
        /// Disable it now.
        case disable(DisableReason)
        /// A recovery probe succeeded: enable it again, releasing its held jobs.
        case enable
    }

    /// The rules' answer for one attempt.
    public struct Verdict: Sendable, Hashable {
        public var job: JobStep
        /// The webhook's circuit after the attempt.
        public var circuit: WebhookCircuit
        public var webhook: WebhookStep
        /// Whether the attempt counted as a failure of the webhook (false for successes, and for
        /// failures of attempts that were in flight when an earlier failure was counted).
        public var countedFailure: Bool
    }

    /// Decides what `attempt` does to its job and to its webhook, whose circuit was `circuit`.
    public func decide(_ attempt: Attempt, circuit: WebhookCircuit, webhookActive: Bool) -> Verdict {
        let outcome = attempt.outcome
        let at = attempt.finishedAt
        if outcome.isSuccess {
            let step: WebhookStep =
                if attempt.isRecoveryProbe && !webhookActive {
                    .enable
                } else if circuit.isOpen {
                    .recovered(failures: circuit.consecutiveFailures, since: circuit.failingSince ?? at)
                } else {
                    .unchanged
                }
            return Verdict(job: .delivered, circuit: .closed, webhook: step, countedFailure: false)
        }
        // A recovery probe that fails leaves the disabled webhook as it is; the next one follows
        // after the probe interval.
        if attempt.isRecoveryProbe && !webhookActive {
            return Verdict(job: .failed, circuit: circuit, webhook: .unchanged, countedFailure: false)
        }
        var next = circuit
        // Counted when no failure was counted since the attempt was claimed: the first of a
        // burst, or a probe (claimed after the failure before it).
        let counted = attempt.failuresWhenClaimed == circuit.consecutiveFailures
        if counted {
            next.consecutiveFailures += 1
            next.failingSince = circuit.failingSince ?? at
            next.lastFailureAt = at
            next.pausedUntil = at.adding(seconds: probeInterval(afterFailures: next.consecutiveFailures))
        }
        if let asked = retryAfter(outcome) {
            next.pausedUntil = max(next.pausedUntil ?? at, at.adding(seconds: asked))
        }
        var step = WebhookStep.unchanged
        if webhookActive {
            if outcome.statusCode == 410 {
                step = .disable(.gone)
            } else if next.consecutiveFailures >= disableAfter {
                step = .disable(.consecutiveFailures(count: next.consecutiveFailures, since: next.failingSince ?? at))
            } else if !circuit.isOpen {
                step = .startedFailing
            }
        }
        let activeAfter: Bool =
            if case .disable = step { false } else { webhookActive }
        let job: JobStep =
            switch retryPolicy.decide(attempt: attempt.number, outcome: outcome, now: at) {
            case .delivered: .delivered
            case .retry(let time): activeAfter ? .retry(at: time) : .held
            case .giveUp: .failed
            }
        return Verdict(job: job, circuit: next, webhook: step, countedFailure: counted)
    }

    /// Seconds between probes after `failures` counted failures: the schedule's delay before
    /// attempt `failures + 1`, or its last delay once the schedule is used up. A zero delay (an
    /// immediate first attempt) is replaced by the schedule's longest one.
    public func probeInterval(afterFailures failures: Int) -> Double {
        let schedule = retryPolicy.schedule
        let delay = schedule[min(max(failures, 0), schedule.count - 1)]
        return delay > 0 ? delay : (schedule.max() ?? 0)
    }

    /// Seconds from a webhook's first failure to its disabling when every probe fails.
    ///
    /// | retry-schedule | disable-after | disabled after |
    /// |----------------|---------------|----------------|
    /// | `0,60,300`     | 10            | 2,460 s (41 min) |
    /// | `0,60,300`     | 3             | 360 s (6 min)  |
    /// | `0,1,2`        | 10            | 17 s           |
    public var timeUntilDisabled: Double {
        (1..<disableAfter).reduce(0) { $0 + probeInterval(afterFailures: $1) }
    }

    /// The pause a `429` or `503` asks for with `Retry-After`, capped; nil for any other answer.
    func retryAfter(_ outcome: DeliveryOutcome) -> Double? {
        guard let asked = outcome.retryAfterSeconds, outcome.statusCode == 429 || outcome.statusCode == 503 else {
            return nil
        }
        return min(Double(max(asked, 0)), retryPolicy.maximumRetryAfter)
    }
}
