/// The state shared between callers and the transfer loop: submitted requests not yet taken
/// by the loop, and pending abort and stop requests. It does no I/O; each change returns
/// what the caller must do next.
struct SubmissionQueue: Sendable {
    /// Where the client is in its life.
    enum Phase: Sendable {
        case idle, running, stopped
    }

    /// What the loop takes on each turn.
    struct Take: Sendable {
        /// Requests to start (or to abort too, when `stop` is set).
        var requests: [OutboundRequest] = []
        /// Requests submitted before `abortAll()`: report them as aborted.
        var aborted: [OutboundRequest] = []
        /// Abort every transfer the loop is running or holding in its own queue.
        var abortRunning = false
        /// Leave the loop after aborting everything.
        var stop = false
    }

    /// What a caller must do after changing the queue.
    enum Action: Sendable {
        /// Nothing: the loop has already been woken, or there is no loop.
        case none
        /// Interrupt the loop's poll.
        case wakeLoop
        /// Report these requests as aborted now, since no loop will.
        case abortNow([OutboundRequest])
        /// Report these as aborted and finish the completions stream (stopped before running).
        case abortNowAndFinish([OutboundRequest])
    }

    private(set) var phase = Phase.idle
    private var next = Take()
    private var wakeupPending = false

    /// Queues `requests`; false when the client has stopped and they were dropped.
    mutating func submit(_ requests: [OutboundRequest]) -> (accepted: Bool, action: Action) {
        guard phase != .stopped else { return (false, .none) }
        next.requests.append(contentsOf: requests)
        return (true, wake())
    }

    /// Moves everything submitted so far to the aborted list and asks the loop to abort its transfers.
    mutating func abortAll() -> Action {
        switch phase {
        case .idle:
            defer { next.requests = [] }
            return .abortNow(next.requests)
        case .running:
            next.aborted.append(contentsOf: next.requests)
            next.requests = []
            next.abortRunning = true
            return wake()
        case .stopped:
            return .none
        }
    }

    /// Asks the loop to stop, or stops at once when it never ran.
    mutating func shutdown() -> Action {
        switch phase {
        case .idle:
            phase = .stopped
            defer { next = Take() }
            return .abortNowAndFinish(next.requests)
        case .running:
            next.stop = true
            return wake()
        case .stopped:
            return .none
        }
    }

    /// Marks the loop as started; false when it already ran or the client was shut down.
    mutating func start() -> Bool {
        guard phase == .idle else { return false }
        phase = .running
        return true
    }

    /// Hands the loop everything queued since its last turn; a stop closes the queue to new requests.
    mutating func take() -> Take {
        wakeupPending = false
        if next.stop { phase = .stopped }
        defer { next = Take() }
        return next
    }

    private mutating func wake() -> Action {
        guard phase == .running, !wakeupPending else { return .none }
        wakeupPending = true
        return .wakeLoop
    }
}
