/// Where the last claim's walk of the due index found its first job of a webhook with room.
///
/// Every due job before that position belonged to a webhook at its limit. While those webhooks
/// stay at their limit, the next walk starts there instead of stepping again over their queues:
/// one dead endpoint's backlog of thousands of jobs would otherwise be walked by every claim.
///
/// Most jobs made due later sort after the position (they are due at a later time, or at the
/// same millisecond with a larger id), but not all: another process (a CLI `enable`, the API, a
/// second daemon) may commit a job due at a time it read before the position was taken, and a
/// lease that expired is due at its expiry (those jobs are claimed separately, first). So a
/// position is trusted for at most `lifetime` milliseconds after a walk from the start of the
/// index, however many walks passed it on, then the walk starts over: a job made due behind it
/// waits a second at most. With no webhook at its limit no position is kept at all: the walk
/// starts at the oldest due job, which it takes.
///
/// Pure (times in milliseconds, no I/O), so every store that walks its due jobs in
/// `(available_at, id)` order can keep one.
public struct ClaimCursor: Sendable, Hashable {
    /// The position's due time (milliseconds since the epoch).
    public var availableAt: Int64
    /// The position's job id, within `availableAt`.
    public var id: Int64
    /// The webhooks at their limit when the position was taken.
    public var saturated: Set<String>
    /// When the walk from the start of the index that this position descends from was made.
    public var madeAt: Int64

    /// How long (milliseconds) a position is trusted after the walk from the start it descends from.
    public static let lifetime: Int64 = 1000

    public init(availableAt: Int64, id: Int64, saturated: Set<String>, madeAt: Int64) {
        self.availableAt = availableAt
        self.id = id
        self.saturated = saturated
        self.madeAt = madeAt
    }

    /// This position, if it may be started from at `now`: nil when it is too old or a webhook it
    /// skipped has room again.
    public func valid(now: Int64, saturated current: Set<String>) -> ClaimCursor? {
        guard now - madeAt < Self.lifetime, now >= madeAt, saturated.isSubset(of: current) else { return nil }
        return self
    }
}
