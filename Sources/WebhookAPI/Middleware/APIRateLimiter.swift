import Synchronization
import WebhookCore

/// One token bucket per API key: `rate` requests a second on average, bursts of twice that.
final class APIRateLimiter: Sendable {
    let rate: Double
    private let buckets = Mutex<[String: TokenBucket]>([:])

    init(rate: Double) {
        self.rate = rate
    }

    /// Takes a token for the key `key` (its id): nil when allowed, else how long to wait.
    func take(key: String, at now: ContinuousClock.Instant = .now) -> Duration? {
        buckets.withLock { buckets in
            var bucket = buckets[key] ?? TokenBucket(rate: rate, capacity: rate * 2)
            defer { buckets[key] = bucket }
            return bucket.take(at: now)
        }
    }
}
