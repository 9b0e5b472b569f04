/// When a failed delivery is tried again, and when it is given up.
///
/// The schedule lists the delay before each attempt, counted from the previous attempt's end.
/// The documented default is three attempts:
///
/// | attempt | delay after the previous failure |
/// |---------|----------------------------------|
/// | 1       | immediately                      |
/// | 2       | 1 minute                         |
/// | 3       | 5 minutes                        |
///
/// A receiver that answers `429` or `503` with `Retry-After` is honoured: the next attempt waits
/// for the longer of the schedule's delay and the receiver's (capped by `maximumRetryAfter`).
/// What a failure means for the webhook (its circuit, disabling, `410 Gone`) is decided by
/// ``DeliveryRules``, which applies this policy to each job.
public struct RetryPolicy: Sendable, Hashable {
    /// Delay in seconds before attempt N+1; entry 0 is the first attempt (normally 0).
    public var schedule: [Double]
    /// The longest `Retry-After` honoured, in seconds.
    public var maximumRetryAfter: Double

    public init(schedule: [Double] = RetryPolicy.documentedSchedule, maximumRetryAfter: Double = 3600) {
        precondition(!schedule.isEmpty, "a retry schedule has at least one attempt")
        self.schedule = schedule
        self.maximumRetryAfter = maximumRetryAfter
    }

    /// The schedule from the public documentation: now, +1 minute, +5 minutes.
    public static let documentedSchedule: [Double] = [0, 60, 300]

    /// The schedule as it is written in the configuration, e.g. `0,60,300`.
    public var scheduleDescription: String {
        schedule.map { $0 == $0.rounded() && abs($0) < 1e15 ? String(Int($0)) : String($0) }.joined(separator: ",")
    }

    /// How many attempts a job gets in all.
    public var maximumAttempts: Int { schedule.count }

    /// What follows an attempt.
    public enum Decision: Sendable, Hashable {
        /// The event was delivered.
        case delivered
        /// Try again at this time.
        case retry(at: Timestamp)
        /// No attempt is left: the job has failed.
        case giveUp
    }

    /// Decides what follows attempt number `attempt` (1-based, within the job's current run of
    /// attempts) that ended at `now` with `outcome`.
    public func decide(attempt: Int, outcome: DeliveryOutcome, now: Timestamp) -> Decision {
        if outcome.isSuccess { return .delivered }
        guard attempt < schedule.count else { return .giveUp }
        var delay = schedule[attempt]
        if let asked = outcome.retryAfterSeconds, outcome.statusCode == 429 || outcome.statusCode == 503 {
            delay = max(delay, min(Double(asked), maximumRetryAfter))
        }
        return .retry(at: now.adding(seconds: delay))
    }

    /// Parses a schedule written as comma-separated seconds, e.g. `0,60,300` or `0,0.05,0.1`.
    public init(parsing text: String) throws(InvalidSchedule) {
        var delays: [Double] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = part.trimmingWhitespace()
            guard let value = Double(trimmed), value.isFinite, value >= 0, value <= 7 * 24 * 3600 else {
                throw InvalidSchedule(
                    message: "retry schedule entry \"\(trimmed)\" is not a number of seconds between 0 and 604800"
                )
            }
            delays.append(value)
        }
        guard !delays.isEmpty, delays.count <= 50 else {
            throw InvalidSchedule(message: "a retry schedule lists between 1 and 50 delays")
        }
        self.init(schedule: delays)
    }

    /// A schedule that cannot be used, with the reason.
    public struct InvalidSchedule: Error, Sendable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> Substring {
        var result = self
        while let first = result.first, first.isWhitespace { result.removeFirst() }
        while let last = result.last, last.isWhitespace { result.removeLast() }
        return result
    }
}
