/// How many requests one webhook may have in flight, adapted to how its receiver answers.
///
/// Additive increase, multiplicative decrease, as TCP's congestion window: a webhook starts at
/// ``Policy/initial``, and each 2xx adds one (the limit doubles every round trip, TCP's slow
/// start) until the first sign of overload; from then on every `limit` 2xx add one (one more per
/// round trip). Overload halves the limit: a `429`, `503` or `504`, a timeout, or a smoothed
/// response time risen above ``Policy/latencyTolerance`` times the fastest seen lately plus
/// ``Policy/latencySlack``. One decrease per round trip: the answers of requests already in
/// flight when the limit shrank say nothing new. The limit stays between 1 and
/// ``Policy/ceiling`` (the configured `per-webhook-concurrency`).
///
/// A pure value: the clock comes in as a value, no I/O. The delivery loop keeps one per webhook
/// and passes the limits to the claim. Other failures (a `500`, a refused connection) leave it
/// alone; the webhook's ``WebhookCircuit`` handles those.
public struct ConcurrencyLimit: Sendable, Hashable {
    /// The bounds and factors of the adaptation.
    public struct Policy: Sendable, Hashable {
        /// The limit a webhook starts at (capped by the ceiling).
        public var initial: Int
        /// The most requests one webhook ever has in flight: `per-webhook-concurrency`.
        public var ceiling: Int
        /// What overload multiplies the limit by.
        public var decrease: Double
        /// A smoothed response time above this many times the baseline (plus the slack) is overload.
        public var latencyTolerance: Double
        /// Response times this close to the baseline never count as risen: a receiver answering in
        /// a millisecond is not overloaded when the daemon's own work adds a few.
        public var latencySlack: Duration
        /// How long the fastest response time seen stands as the baseline: after this, the fastest
        /// of the last period takes over, so a receiver that became slower for good is not
        /// throttled for ever.
        public var baselinePeriod: Duration

        public init(
            initial: Int = 16, ceiling: Int = 256, decrease: Double = 0.5, latencyTolerance: Double = 2,
            latencySlack: Duration = .milliseconds(50), baselinePeriod: Duration = .seconds(60)
        ) {
            self.ceiling = max(1, ceiling)
            self.initial = min(max(1, initial), self.ceiling)
            self.decrease = min(max(decrease, 0.05), 0.95)
            self.latencyTolerance = max(1, latencyTolerance)
            self.latencySlack = latencySlack
            self.baselinePeriod = baselinePeriod
        }
    }

    /// What made the limit change, for a test or a log line.
    public enum Change: Sendable, Hashable {
        case unchanged
        case increased
        case decreased
    }

    public let policy: Policy
    /// The requests the webhook may have in flight now.
    public private(set) var limit: Int
    /// Successes since the last increase: congestion avoidance adds one per `limit` of them.
    private var successes = 0
    /// True until the first decrease: each success adds a whole request.
    public private(set) var slowStart = true
    /// The smoothed response time in milliseconds (TCP's SRTT, weight 1/8), once there is one.
    public private(set) var smoothedLatencyMs: Double?
    /// The fastest response time of the current baseline period, and the one before it.
    private var baselineMs: Double?
    private var periodMinimumMs: Double?
    private var periodStart: Timestamp?
    /// No decrease before this: one per round trip.
    private var calmUntil: Timestamp?

    public init(policy: Policy) {
        self.policy = policy
        self.limit = policy.initial
    }

    /// The fastest response time the latency check compares with, in milliseconds.
    public var baselineLatencyMs: Double? { baselineMs }

    /// A 2xx that took `latency`, received at `now`: grows the limit unless the response time rose.
    ///
    /// `inFlight`, the webhook's requests in flight when the answer came, keeps a webhook that
    /// does not use its limit from growing it (TCP's congestion window validation): a trickle of
    /// events answered quickly says nothing about a burst, which would otherwise go out all at
    /// once at the ceiling. It grows while at least half the limit is in use.
    @discardableResult
    public mutating func onSuccess(latency: Duration, now: Timestamp, inFlight: Int? = nil) -> Change {
        let sample = max(0, Double(latency.inMilliseconds))
        observe(sample, now: now)
        if let smoothed = smoothedLatencyMs, let baseline = baselineMs,
            smoothed > baseline * policy.latencyTolerance + Double(policy.latencySlack.inMilliseconds)
        {
            return onOverload(now: now)
        }
        guard limit < policy.ceiling else { return .unchanged }
        if let inFlight, inFlight * 2 < limit { return .unchanged }
        successes += 1
        guard slowStart || successes >= limit else { return .unchanged }
        successes = 0
        limit += 1
        return .increased
    }

    /// A sign the receiver is overloaded (429, 503, 504, a timeout) at `now`: halves the limit,
    /// once per round trip.
    @discardableResult
    public mutating func onOverload(now: Timestamp) -> Change {
        if let calmUntil, now < calmUntil { return .unchanged }
        slowStart = false
        let before = limit
        limit = max(1, Int(Double(limit) * policy.decrease))
        successes = 0
        // The requests in flight now went out under the old limit; their answers arrive within
        // about one response time.
        let roundTrip = Int64(smoothedLatencyMs ?? 0) + 1
        calmUntil = now.adding(milliseconds: roundTrip)
        // The smoothed time restarts from the baseline: without it, the risen average would take
        // several round trips to fall again and cut the limit each time.
        smoothedLatencyMs = baselineMs
        return limit < before ? .decreased : .unchanged
    }

    /// Whether an attempt's outcome says the receiver is overloaded, as opposed to failing.
    public static func isOverload(_ outcome: DeliveryOutcome) -> Bool {
        if outcome.failure == .timeout { return true }
        guard outcome.failure == .httpStatus, let status = outcome.statusCode else { return false }
        return status == 429 || status == 503 || status == 504
    }

    private mutating func observe(_ sample: Double, now: Timestamp) {
        smoothedLatencyMs = smoothedLatencyMs.map { $0 + (sample - $0) / 8 } ?? sample
        periodMinimumMs = min(periodMinimumMs ?? sample, sample)
        baselineMs = min(baselineMs ?? sample, sample)
        guard let start = periodStart else {
            periodStart = now
            return
        }
        if now.milliseconds - start.milliseconds >= policy.baselinePeriod.inMilliseconds {
            baselineMs = periodMinimumMs
            periodMinimumMs = nil
            periodStart = now
        }
    }
}
