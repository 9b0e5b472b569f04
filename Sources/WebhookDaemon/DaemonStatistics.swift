import Synchronization

/// Running totals of what this process did, for the status line and metrics.
public final class DaemonStatistics: Sendable {
    private let eventsTaken = Atomic<Int>(0)
    private let jobsCreated = Atomic<Int>(0)
    private let rowsRejected = Atomic<Int>(0)
    private let succeeded = Atomic<Int>(0)
    private let failed = Atomic<Int>(0)
    private let stale = Atomic<Int>(0)
    private let inFlightNow = Atomic<Int>(0)

    public init() {}

    func ingested(events: Int, jobs: Int, rejected: Int) {
        eventsTaken.add(events, ordering: .relaxed)
        jobsCreated.add(jobs, ordering: .relaxed)
        rowsRejected.add(rejected, ordering: .relaxed)
    }

    func attempted(succeeded ok: Int, failed bad: Int, stale lost: Int) {
        succeeded.add(ok, ordering: .relaxed)
        failed.add(bad, ordering: .relaxed)
        stale.add(lost, ordering: .relaxed)
    }

    func setInFlight(_ count: Int) {
        inFlightNow.store(count, ordering: .relaxed)
    }

    /// A copy of the totals.
    public var snapshot: Snapshot {
        Snapshot(
            eventsTaken: eventsTaken.load(ordering: .relaxed),
            jobsCreated: jobsCreated.load(ordering: .relaxed),
            rowsRejected: rowsRejected.load(ordering: .relaxed),
            attemptsSucceeded: succeeded.load(ordering: .relaxed),
            attemptsFailed: failed.load(ordering: .relaxed),
            staleResults: stale.load(ordering: .relaxed),
            inFlight: inFlightNow.load(ordering: .relaxed)
        )
    }

    /// The totals at one moment.
    public struct Snapshot: Sendable, Hashable {
        public var eventsTaken: Int
        public var jobsCreated: Int
        public var rowsRejected: Int
        public var attemptsSucceeded: Int
        public var attemptsFailed: Int
        public var staleResults: Int
        public var inFlight: Int
    }
}
