import Synchronization

/// A coalescing wake-up call between tasks and threads: many signals, one waiter.
///
/// A signal sent while nobody waits is kept (once), so a waiter never misses work that was
/// announced just before it started waiting.
public final class Wakeup: Sendable {
    private struct State {
        var signalled = false
        var waiter: CheckedContinuation<Void, Never>?
        var generation: UInt64 = 0
        var cancelledGeneration: UInt64 = .max
    }

    private let state = Mutex(State())

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
        if consumeSignal() { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForSignal() }
            group.addTask { try? await Task.sleep(for: timeout) }
            _ = await group.next()
            group.cancelAll()
        }
    }

    private func consumeSignal() -> Bool {
        state.withLock { state in
            guard state.signalled else { return false }
            state.signalled = false
            return true
        }
    }

    private func waitForSignal() async {
        let generation = state.withLock { state in
            state.generation &+= 1
            return state.generation
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.signalled || state.cancelledGeneration == generation {
                        state.signalled = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.cancelledGeneration = generation
                let waiter = state.waiter
                state.waiter = nil
                return waiter
            }
            waiter?.resume()
        }
    }
}
