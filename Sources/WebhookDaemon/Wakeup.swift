import Dispatch
import Synchronization

/// A coalescing wake-up call between tasks and threads: many signals, one waiter.
///
/// A signal sent while nobody waits is kept (once), so a waiter never misses work that was
/// announced just before it started waiting. Waiting costs one continuation and one timer on a
/// dispatch queue: no task is created, so the hot loops can wait thousands of times a second.
public final class Wakeup: Sendable {
    private struct State {
        var signalled = false
        var waiter: CheckedContinuation<Void, Never>?
        /// Identifies the current wait, so a late timer cannot resume a later one.
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())
    private static let timers = DispatchQueue(label: "qr3-wakeup-timers")

    public init() {}

    /// Wakes the waiter, or the next one if nobody is waiting. Callable from any thread.
    public func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.signalled = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns after a signal, after `timeout`, or on cancellation, whichever comes first.
    public func wait(timeout: Duration) async {
        let generation = state.withLock { state -> UInt64? in
            if state.signalled {
                state.signalled = false
                return nil
            }
            state.generation &+= 1
            return state.generation
        }
        guard let generation else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.signalled || Task.isCancelled {
                        state.signalled = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow {
                    continuation.resume()
                    return
                }
                let nanoseconds = max(
                    0,
                    timeout.components.seconds * 1_000_000_000
                        + timeout.components.attoseconds / 1_000_000_000)
                Self.timers.asyncAfter(deadline: .now() + .nanoseconds(Int(min(nanoseconds, Int64(Int.max))))) {
                    self.expire(generation)
                }
            }
        } onCancel: {
            expire(generation)
        }
    }

    private func expire(_ generation: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.generation == generation, let waiter = state.waiter else { return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }
}
