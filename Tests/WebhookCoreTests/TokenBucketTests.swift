import Testing
import WebhookCore

@Suite struct TokenBucketTests {
    @Test func aBurstUpToTheCapacityThenTheSteadyRate() {
        var bucket = TokenBucket(rate: 10, capacity: 20)
        let start = ContinuousClock.now
        for _ in 0..<20 { #expect(bucket.take(at: start) == nil) }
        // Empty: the next token comes 100 ms later.
        #expect(bucket.take(at: start) == .milliseconds(100))
        #expect(bucket.take(at: start + .milliseconds(50)) == .milliseconds(50))
        #expect(bucket.take(at: start + .milliseconds(100)) == nil)
        // A long pause refills it, never beyond the capacity.
        let later = start + .seconds(60)
        for _ in 0..<20 { #expect(bucket.take(at: later) == nil) }
        #expect(bucket.take(at: later) != nil)
    }
}
