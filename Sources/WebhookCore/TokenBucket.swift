/// A token bucket: a steady `rate` of requests a second, with bursts up to `capacity`.
///
/// A value type with the clock as an argument, so it is tested without waiting. Full at first;
/// each request takes a token; tokens come back at `rate` a second.
public struct TokenBucket: Sendable, Hashable {
    /// Tokens added per second.
    public let rate: Double
    /// The most tokens held: the longest burst.
    public let capacity: Double
    private var tokens: Double
    private var updated: ContinuousClock.Instant?

    public init(rate: Double, capacity: Double) {
        self.rate = max(rate, 0.001)
        self.capacity = max(capacity, 1)
        self.tokens = self.capacity
    }

    /// Takes a token at `now`: nil when there was one, else how long until there is.
    public mutating func take(at now: ContinuousClock.Instant) -> Duration? {
        if let updated {
            let elapsed = now - updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            tokens = min(capacity, tokens + max(0, seconds) * rate)
        }
        updated = now
        guard tokens < 1 else {
            tokens -= 1
            return nil
        }
        return .milliseconds(Int64(((1 - tokens) / rate * 1000).rounded(.up)))
    }
}
