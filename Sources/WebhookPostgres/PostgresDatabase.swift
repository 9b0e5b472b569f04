import Dispatch
import Logging
import Synchronization

/// A pool of libpq connections, each used by one dispatch queue of its own (libpq blocks).
///
/// A connection that breaks (the server restarted, the network dropped it) is closed and made
/// again at its next use, no sooner than a back-off that doubles from 100 ms to 5 s while
/// connecting keeps failing: a call in between fails at once with a lost-connection error, which
/// the daemon's store-fault handling treats like any failing store (it waits and tries again).
public final class PostgresDatabase: Sendable {
    /// Where and how to connect.
    public let location: PostgresLocation
    private let lanes: [Lane]
    private let free: Mutex<FreeLanes>
    let logger: Logger
    /// Transactions run again after losing a serialization race or a deadlock, since opening.
    public let retriedTransactions = Atomic<Int>(0)

    private struct FreeLanes {
        var lanes: [Int]
        var waiters: [CheckedContinuation<Int, Never>] = []
    }

    /// A pool of up to `size` connections to `location`, made as they are first needed, each
    /// running `setup` (e.g. `SET synchronous_commit = off`) once connected.
    public init(location: PostgresLocation, size: Int, setup: [String] = [], logger: Logger) {
        self.location = location
        self.logger = logger
        let size = max(1, size)
        lanes = (0..<size).map { Lane(index: $0, location: location, setup: setup, logger: logger) }
        free = Mutex(FreeLanes(lanes: Array((0..<size).reversed())))
    }

    /// Runs `body` on a connection of the pool, outside any transaction.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T)
        async throws -> T
    {
        let lane = await acquire()
        defer { release(lane) }
        return try await lanes[lane].run(body)
    }

    /// Runs `body` in one transaction (READ COMMITTED), committed when it returns. A transaction
    /// that loses a serialization race or a deadlock is run again, up to five times.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T)
        async throws -> T
    {
        try await withConnection { connection in
            var tries = 0
            while true {
                tries += 1
                do {
                    return try connection.inTransaction { try body($0) }
                } catch {
                    if let error = error as? PostgresError, error.isRetryable, tries < 5 {
                        self.retriedTransactions.add(1, ordering: .relaxed)
                        continue
                    }
                    throw error
                }
            }
        }
    }

    private func acquire() async -> Int {
        await withCheckedContinuation { (continuation: CheckedContinuation<Int, Never>) in
            let lane: Int? = free.withLock { free in
                if let lane = free.lanes.popLast() { return lane }
                free.waiters.append(continuation)
                return nil
            }
            if let lane { continuation.resume(returning: lane) }
        }
    }

    private func release(_ lane: Int) {
        let waiter: CheckedContinuation<Int, Never>? = free.withLock { free in
            if free.waiters.isEmpty {
                free.lanes.append(lane)
                return nil
            }
            return free.waiters.removeFirst()
        }
        waiter?.resume(returning: lane)
    }

    /// Closes every connection (they are made again if the pool is used afterwards).
    public func close() {
        for lane in lanes { lane.queue.sync { lane.connection = nil } }
    }
}

/// One connection and the queue that uses it.
private final class Lane: @unchecked Sendable {
    let queue: DispatchQueue
    let location: PostgresLocation
    let setup: [String]
    let logger: Logger
    // Touched on `queue` only.
    var connection: PostgresConnection?
    private var retryAt: ContinuousClock.Instant?
    private var backoff: Duration = .zero
    private var lastError: PostgresError?

    init(index: Int, location: PostgresLocation, setup: [String], logger: Logger) {
        queue = DispatchQueue(label: "qr3-postgres-\(index)")
        self.location = location
        self.setup = setup
        self.logger = logger
    }

    func run<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            queue.async { [self] in
                continuation.resume(with: Result { try perform(body, again: true) })
            }
        }
    }

    /// Runs `body` on the lane's connection. A kept connection that turns out broken (the server
    /// restarted while it sat idle) before any statement of `body` completed is replaced and
    /// `body` run again once: nothing of it ran, so the caller need not see the stale socket.
    private func perform<T>(_ body: (PostgresConnection) throws -> T, again: Bool) throws -> T {
        let kept = connection != nil
        let connection = try connected()
        connection.completedStatement = false
        do {
            return try body(connection)
        } catch let error as PostgresError where error.connectionLost || !connection.isHealthy {
            self.connection = nil
            if again, kept, !connection.completedStatement {
                logger.debug("A kept PostgreSQL connection was broken; connecting again")
                return try perform(body, again: false)
            }
            throw PostgresError(sqlState: error.sqlState, message: error.message, connectionLost: true)
        }
    }

    private func connected() throws -> PostgresConnection {
        if let connection, connection.isHealthy { return connection }
        connection = nil
        let now = ContinuousClock.now
        if let retryAt, now < retryAt, let lastError { throw lastError }
        do {
            let made = try PostgresConnection(parameters: location.parameters)
            for statement in setup { try made.execute(statement) }
            if lastError != nil {
                logger.notice("Connected to PostgreSQL again", metadata: ["database": "\(location)"])
            }
            connection = made
            (retryAt, backoff, lastError) = (nil, .zero, nil)
            return made
        } catch let error as PostgresError {
            backoff = min(max(backoff * 2, .milliseconds(100)), .seconds(5))
            retryAt = now + backoff
            lastError = error
            throw error
        }
    }
}
