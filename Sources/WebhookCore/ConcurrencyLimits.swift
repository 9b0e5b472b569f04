/// Every webhook's ``ConcurrencyLimit``, fed the outcomes of finished attempts.
///
/// A webhook not seen yet is at ``ConcurrencyLimit/Policy/initial``. ``limits`` holds the limit
/// of every webhook seen, kept up to date on each change, so a claim can take it as it is
/// (copy on write: no copy unless it changes while the claim still holds it).
public struct ConcurrencyLimits: Sendable {
    public let policy: ConcurrencyLimit.Policy
    private var states: [String: ConcurrencyLimit] = [:]
    /// The current limit of each webhook seen, by webhook id.
    public private(set) var limits: [String: Int] = [:]

    public init(policy: ConcurrencyLimit.Policy) {
        self.policy = policy
    }

    /// The limit of `webhookID` now.
    public func limit(of webhookID: String) -> Int {
        limits[webhookID] ?? policy.initial
    }

    /// The adaptive state of `webhookID`, when it has had an attempt.
    public func state(of webhookID: String) -> ConcurrencyLimit? { states[webhookID] }

    /// Adapts `webhookID`'s limit to an attempt's outcome, finished at `now`, while the webhook
    /// had `inFlight` requests in flight. A success grows it (when the limit is in use, see
    /// ``ConcurrencyLimit/onSuccess(latency:now:inFlight:)``), overload
    /// (``ConcurrencyLimit/isOverload(_:)``) shrinks it, anything else leaves it.
    @discardableResult
    public mutating func record(
        webhookID: String, outcome: DeliveryOutcome, now: Timestamp, inFlight: Int? = nil
    ) -> ConcurrencyLimit.Change {
        let overload = ConcurrencyLimit.isOverload(outcome)
        guard outcome.isSuccess || overload else { return .unchanged }
        // One hash of the id for the common case (the state changed in place, the limit did not):
        // this runs for every attempt.
        let known = states.count
        let fresh = ConcurrencyLimit(policy: policy)
        let change =
            overload
            ? states[webhookID, default: fresh].onOverload(now: now)
            : states[webhookID, default: fresh].onSuccess(
                latency: .milliseconds(Int64(outcome.responseTimeMs)), now: now, inFlight: inFlight)
        if change != .unchanged || states.count != known { limits[webhookID] = states[webhookID]?.limit }
        return change
    }
}
