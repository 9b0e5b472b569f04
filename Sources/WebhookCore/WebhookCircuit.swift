/// The failure state of one webhook: the circuit that holds its queue while its endpoint fails.
///
/// Closed (no failure since the last success), the webhook gets up to its concurrency limit of
/// requests in flight. The first failed attempt opens it: from then on the webhook's other jobs
/// wait, keeping their attempts, and one probe at a time goes out, each no earlier than
/// ``pausedUntil``. A success closes it and the held jobs flow again. ``DeliveryRules`` decides
/// every change; a store keeps these four values per webhook and applies what the rules return.
public struct WebhookCircuit: Sendable, Hashable {
    /// Failures counted since the last success: the first one, then one per probe. A claim notes
    /// it; an attempt claimed before a failure was counted fails with that outage, uncounted.
    public var consecutiveFailures: Int
    /// When the first counted failure of this run of failures was recorded.
    public var failingSince: Timestamp?
    /// When the last counted failure was recorded.
    public var lastFailureAt: Timestamp?
    /// No job of the webhook is claimed before this time: the next probe, or the receiver's
    /// `Retry-After`.
    public var pausedUntil: Timestamp?

    public init(
        consecutiveFailures: Int = 0,
        failingSince: Timestamp? = nil,
        lastFailureAt: Timestamp? = nil,
        pausedUntil: Timestamp? = nil
    ) {
        self.consecutiveFailures = consecutiveFailures
        self.failingSince = failingSince
        self.lastFailureAt = lastFailureAt
        self.pausedUntil = pausedUntil
    }

    /// A closed circuit: no failure since the last success.
    public static let closed = WebhookCircuit()

    /// True while the webhook's last counted attempt failed.
    public var isOpen: Bool { consecutiveFailures > 0 }

    /// How many of the webhook's requests may be in flight at `now`: `limit` while closed; while
    /// open, one probe once the pause is over and none before.
    public func capacity(limit: Int, now: Timestamp) -> Int {
        guard isOpen else { return limit }
        if let pausedUntil, now < pausedUntil { return 0 }
        return 1
    }
}
