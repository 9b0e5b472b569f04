import NIOCore
import Synchronization

/// What a `TestReceiver` has seen, shared by its connections and its callers: the requests,
/// the callers waiting for a number of them, and the open connections.
final class RequestLog: Sendable {
    private struct Waiter {
        var count: Int
        var continuation: CheckedContinuation<[ReceivedRequest], any Error>
        var timer: Scheduled<Void>
    }

    private struct State {
        var requests: [ReceivedRequest] = []
        var waiters: [Int: Waiter] = [:]
        var nextWaiterID = 0
        var connectionCount = 0
        var openConnections: [Int: any Channel] = [:]
        var bodyBytesSent = 0
        var isShutDown = false
    }

    private let state = Mutex(State())

    /// Everything received so far, in arrival order.
    var requests: [ReceivedRequest] { state.withLock { $0.requests } }

    /// How many client connections were accepted so far.
    var connectionCount: Int { state.withLock { $0.connectionCount } }

    /// How many client connections are open now.
    var openConnectionCount: Int { state.withLock { $0.openConnections.count } }

    /// How many response body bytes were handed to the network so far.
    var bodyBytesSent: Int { state.withLock { $0.bodyBytesSent } }

    /// Registers a new connection and returns its number (1, 2, ...).
    func connectionOpened(_ channel: any Channel) -> Int {
        state.withLock { state in
            state.connectionCount += 1
            state.openConnections[state.connectionCount] = channel
            return state.connectionCount
        }
    }

    /// Forgets a closed connection.
    func connectionClosed(_ id: Int) {
        _ = state.withLock { $0.openConnections.removeValue(forKey: id) }
    }

    /// Counts body bytes written to a client.
    func sent(bodyBytes: Int) {
        state.withLock { $0.bodyBytesSent += bodyBytes }
    }

    /// Stores a request and releases every waiter whose count is now reached.
    func record(_ request: ReceivedRequest) {
        let (ready, all) = state.withLock { state -> ([Waiter], [ReceivedRequest]) in
            state.requests.append(request)
            guard !state.waiters.isEmpty else { return ([], []) }
            let ready = state.waiters.filter { $0.value.count <= state.requests.count }
            guard !ready.isEmpty else { return ([], []) }
            for id in ready.keys { state.waiters[id] = nil }
            return (Array(ready.values), state.requests)
        }
        for waiter in ready {
            waiter.timer.cancel()
            waiter.continuation.resume(returning: all)
        }
    }

    /// Suspends until `count` requests have arrived and returns all of them; throws after `timeout`.
    func waitFor(count: Int, timeout: Duration, on eventLoop: any EventLoop) async throws -> [ReceivedRequest] {
        try await withCheckedThrowingContinuation { continuation in
            let outcome: Result<[ReceivedRequest], TestReceiverError>? = state.withLock { state in
                if state.requests.count >= count { return .success(state.requests) }
                if state.isShutDown { return .failure(.shutDown) }
                state.nextWaiterID += 1
                let id = state.nextWaiterID
                let timer = eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                    self.expire(waiter: id, timeout: timeout)
                }
                state.waiters[id] = Waiter(count: count, continuation: continuation, timer: timer)
                return nil
            }
            if let outcome { continuation.resume(with: outcome.mapError { $0 }) }
        }
    }

    /// Fails every waiter and returns the connections still open, so they can be closed.
    func shutDown() -> [any Channel] {
        let (waiters, channels) = state.withLock { state in
            state.isShutDown = true
            defer { state.waiters = [:] }
            return (Array(state.waiters.values), Array(state.openConnections.values))
        }
        for waiter in waiters {
            waiter.timer.cancel()
            waiter.continuation.resume(throwing: TestReceiverError.shutDown)
        }
        return channels
    }

    private func expire(waiter id: Int, timeout: Duration) {
        let expired = state.withLock { state in
            state.waiters.removeValue(forKey: id).map { ($0, state.requests.count) }
        }
        guard let (waiter, received) = expired else { return }
        waiter.continuation.resume(
            throwing: TestReceiverError.timedOut(expected: waiter.count, received: received, after: timeout))
    }
}

/// Why waiting on a `TestReceiver` failed.
public enum TestReceiverError: Error, Sendable, CustomStringConvertible {
    /// Fewer requests than expected arrived in time.
    case timedOut(expected: Int, received: Int, after: Duration)
    /// The receiver was shut down while someone waited.
    case shutDown

    public var description: String {
        switch self {
        case .timedOut(let expected, let received, let timeout):
            "expected \(expected) requests within \(timeout), received \(received)"
        case .shutDown:
            "the test receiver was shut down"
        }
    }
}
