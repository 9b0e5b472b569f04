/// Decides what to say about a failing store, and how long to wait before the next try.
///
/// A state machine that does no I/O: the daemon tells it each failure and each success with the
/// time as a value, and carries out what it returns. A fault is logged once when it begins, at
/// most once a ``summaryInterval`` while it lasts (`still failing: N tries in 60 s`), and once
/// when it ends, however fast the caller would otherwise retry:
///
/// ```swift
/// var report = StoreFaultReport()
/// let decision = report.failed(fault, now: .now, jitter: .random(in: 0..<1))
/// if let line = decision.log { log(line) }
/// await sleep(decision.delay)
/// ...
/// if let line = report.succeeded(now: .now, resultsWritten: 12) { log(line) }
/// ```
public struct StoreFaultReport: Sendable {
    /// The back-off between tries.
    public var backoff: FaultBackoff
    /// The least time between two `stillFailing` lines.
    public var summaryInterval: Duration

    /// The fault under way, if any.
    public private(set) var episode: Episode?

    public init(backoff: FaultBackoff = FaultBackoff(), summaryInterval: Duration = .seconds(60)) {
        self.backoff = backoff
        self.summaryInterval = summaryInterval
    }

    /// One fault, from its first failure to the next success.
    public struct Episode: Sendable, Hashable {
        /// The latest failure's fault (its kind may change while it lasts: a full disk that then fails).
        public var fault: StoreFault
        /// When the first failure was seen.
        public var since: ContinuousClock.Instant
        /// Failed tries so far.
        public var tries: Int
        /// When the last line about it was said (its start or a summary).
        var reportedAt: ContinuousClock.Instant
        /// `tries` at that moment.
        var triesReported: Int
    }

    /// What to log.
    public enum Line: Sendable, Hashable {
        /// The first failure of a fault: say what it is and what the daemon does.
        case began(StoreFault)
        /// The fault goes on: `tries` failed tries over `interval`, `duration` since it began.
        case stillFailing(StoreFault, tries: Int, interval: Duration, duration: Duration)
        /// The store answers again after `duration` and `tries` failed tries; `resultsWritten` were written late.
        case recovered(StoreFault, duration: Duration, tries: Int, resultsWritten: Int)
    }

    /// What to do after a failure.
    public struct Decision: Sendable, Hashable {
        /// A line to log, or nil to stay quiet.
        public var line: Line?
        /// How long to wait before trying again.
        public var delay: Duration
    }

    /// Whether a fault is under way.
    public var isFailing: Bool { episode != nil }

    /// A try failed with `fault` at `now`; `jitter` is a random number in `0..<1` for the back-off.
    public mutating func failed(_ fault: StoreFault, now: ContinuousClock.Instant, jitter: Double) -> Decision {
        guard var episode else {
            episode = Episode(fault: fault, since: now, tries: 1, reportedAt: now, triesReported: 1)
            return Decision(line: .began(fault), delay: backoff.delay(afterFailure: 1, jitter: jitter))
        }
        episode.fault = fault
        episode.tries += 1
        var line: Line?
        let interval = now - episode.reportedAt
        if interval >= summaryInterval {
            line = .stillFailing(
                fault, tries: episode.tries - episode.triesReported, interval: interval, duration: now - episode.since)
            episode.reportedAt = now
            episode.triesReported = episode.tries
        }
        self.episode = episode
        return Decision(line: line, delay: backoff.delay(afterFailure: episode.tries, jitter: jitter))
    }

    /// A try succeeded at `now`, writing `resultsWritten` results held back while the store failed.
    /// Returns the line that ends a fault, nil when none was under way.
    public mutating func succeeded(now: ContinuousClock.Instant, resultsWritten: Int = 0) -> Line? {
        guard let episode else { return nil }
        self.episode = nil
        return .recovered(
            episode.fault, duration: now - episode.since, tries: episode.tries, resultsWritten: resultsWritten)
    }
}

extension Duration {
    /// Seconds with one decimal, as logs and status lines show a fault's length: `12.3`.
    public var tenthsOfSecondsText: String {
        let tenths = (components.seconds * 10) + components.attoseconds / 100_000_000_000_000_000
        return "\(tenths / 10).\(abs(tenths % 10))"
    }
}
