/// How long to wait before trying a failing store again: exponential, capped, with jitter.
///
/// The delay doubles from ``initial`` with each failure in a row up to ``maximum``; jitter then
/// takes it anywhere between half and all of that ("equal jitter"), so several daemons sharing a
/// failed disk do not retry in step. With the defaults:
///
/// | failure in a row | delay (jitter 0 ... 1) |
/// |------------------|------------------------|
/// | 1                | 50 - 100 ms            |
/// | 2                | 100 - 200 ms           |
/// | 3                | 200 - 400 ms           |
/// | 4                | 0.4 - 0.8 s            |
/// | 5                | 0.8 - 1.6 s            |
/// | 6 and later      | 1.5 - 3 s              |
///
/// A fault of 5 s is so tried about 7 times, a fault of a minute about 30 times, and the end of
/// a fault is noticed within 3 s.
public struct FaultBackoff: Sendable, Hashable {
    /// The delay after the first failure, before jitter.
    public var initial: Duration
    /// The longest delay, before jitter.
    public var maximum: Duration

    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(3)) {
        precondition(initial > .zero && maximum >= initial, "a back-off starts above zero and grows")
        self.initial = initial
        self.maximum = maximum
    }

    /// The wait after failure number `failures` (1-based) in a row; `jitter` is a random number in `0..<1`.
    public func delay(afterFailure failures: Int, jitter: Double) -> Duration {
        var delay = initial
        var doublings = max(0, failures - 1)
        while doublings > 0, delay < maximum {
            delay = delay * 2
            doublings -= 1
        }
        let capped = min(delay, maximum)
        return capped * (0.5 + 0.5 * min(max(jitter, 0), 1))
    }
}
