import Synchronization
import WebhookCore

/// Whether the store is failing, as the daemon last found it: shared by the delivery loop, which
/// reports, and `/healthz`, the API's writes, the status line and metrics, which read.
///
/// The delivery loop writes every round, so its view is at most a back-off delay old. Only
/// memory: a store that cannot be written cannot hold its own fault either.
public final class StoreHealth: Sendable {
    /// A fault under way.
    public struct Fault: Sendable, Hashable {
        /// What fails, in the latest try.
        public var fault: StoreFault
        /// When it began (wall clock, for people).
        public var since: Timestamp
        /// When it began (monotonic, for durations).
        public var began: ContinuousClock.Instant
        /// Failed tries so far.
        public var tries: Int
        /// Attempt results held in memory until the store takes them.
        public var resultsWaiting: Int

        /// How long it has lasted at `now`.
        public func duration(at now: ContinuousClock.Instant = .now) -> Duration { now - began }
    }

    private let state = Mutex<Fault?>(nil)

    public init() {}

    /// The fault under way, nil while the store answers.
    public var fault: Fault? { state.withLock { $0 } }

    /// Records that the store fails with `fault`; a fault already under way keeps its start.
    public func failing(_ fault: StoreFault, tries: Int, resultsWaiting: Int) {
        state.withLock { current in
            if current == nil {
                current = Fault(fault: fault, since: .now(), began: .now, tries: tries, resultsWaiting: resultsWaiting)
            } else {
                current?.fault = fault
                current?.tries = tries
                current?.resultsWaiting = resultsWaiting
            }
        }
    }

    /// Records that the store answers again.
    public func recovered() {
        state.withLock { $0 = nil }
    }
}
