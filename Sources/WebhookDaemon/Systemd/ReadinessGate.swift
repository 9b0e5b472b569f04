import Synchronization

/// Collects "ready" reports from the parts of the daemon; opens once every expected part reported.
///
/// The daemon sends `READY=1` only when the gate is open: the database is migrated before any
/// service starts, and each service that must be up first (the delivery loop, the metrics
/// listener, the HTTP API) is expected by name and reports when it is. A part that starts later
/// calls ``expect(_:)`` before the services run, then ``ready(_:)``.
public final class ReadinessGate: Sendable {
    private struct State {
        var waiting: Set<String>
        var isOpen = false
    }

    private let state: Mutex<State>
    /// Signalled when the gate opens.
    let opened = Wakeup()

    /// A gate waiting for each of `parts`.
    public init(expecting parts: [String]) {
        state = Mutex(State(waiting: Set(parts)))
    }

    /// Adds `part` to the parts the gate waits for; must come before the gate opens.
    public func expect(_ part: String) {
        state.withLock { state in
            precondition(!state.isOpen, "ReadinessGate.expect(\(part)) after the gate opened")
            state.waiting.insert(part)
        }
    }

    /// Reports `part` ready; the last expected report opens the gate.
    public func ready(_ part: String) {
        let justOpened = state.withLock { state -> Bool in
            state.waiting.remove(part)
            guard !state.isOpen, state.waiting.isEmpty else { return false }
            state.isOpen = true
            return true
        }
        if justOpened { opened.signal() }
    }

    /// Whether every expected part has reported.
    public var isOpen: Bool { state.withLock { $0.isOpen } }

    /// The parts still awaited, sorted.
    public var waitingFor: [String] { state.withLock { $0.waiting.sorted() } }
}
