import WebhookCore

/// Which jobs one claim takes, the same for every store: the store reads the leases in flight
/// and the open circuits, then offers candidates in its order (leases that ran out first, then
/// due jobs oldest first), and this keeps each webhook within its capacity.
///
/// A webhook's capacity is its adaptive limit (``ClaimRequest/webhookLimits``, else
/// `perWebhookLimit`), counting live claims of every owner, so one slow endpoint cannot take
/// every slot or hide the jobs queued behind its own. A failing webhook (its circuit open) has
/// the capacity ``WebhookCircuit/capacity(limit:now:)`` gives: one probe at a time once its pause
/// is over, none before; its other jobs wait, keeping their attempts (``DeliveryRules``).
public struct ClaimSelection: Sendable {
    /// The jobs taken, in the order offered.
    public private(set) var chosen: [Int64] = []
    /// Each failing webhook's count of consecutive failures when claimed (a claimed job carries it).
    public let failures: [String: Int]
    /// Webhooks that can take nothing more: at their capacity, or failing and paused. A store may
    /// leave their jobs out of its walk.
    public let saturated: Set<String>
    private let limit: Int
    private var inFlight: [String: Int]
    private let failingCapacity: [String: Int]
    private let webhookLimits: [String: Int]
    private let perWebhookLimit: Int

    /// A selection for `request`, given the live claims per webhook and the open circuits of
    /// active webhooks.
    public init(_ request: ClaimRequest, inFlight: [String: Int], openCircuits: [(id: String, circuit: WebhookCircuit)]) {
        limit = request.limit
        webhookLimits = request.webhookLimits
        perWebhookLimit = request.perWebhookLimit
        self.inFlight = inFlight
        var failingCapacity: [String: Int] = [:]
        var failures: [String: Int] = [:]
        for (id, circuit) in openCircuits {
            failingCapacity[id] = circuit.capacity(limit: webhookLimits[id] ?? perWebhookLimit, now: request.now)
            failures[id] = circuit.consecutiveFailures
        }
        self.failingCapacity = failingCapacity
        self.failures = failures
        chosen.reserveCapacity(request.limit)
        var saturated = Set(failingCapacity.filter { $0.value == 0 }.keys)
        for (id, count) in inFlight
        where count >= (failingCapacity[id] ?? webhookLimits[id] ?? request.perWebhookLimit) {
            saturated.insert(id)
        }
        self.saturated = saturated
    }

    /// Whether the claim has all the jobs it asked for.
    public var isFull: Bool { chosen.count >= limit }

    /// Takes job `id` of `webhookID` if the claim and the webhook have room; returns whether it did.
    @discardableResult
    public mutating func take(_ id: Int64, of webhookID: String) -> Bool {
        guard chosen.count < limit else { return false }
        let count = inFlight[webhookID, default: 0]
        guard count < capacity(of: webhookID) else { return false }
        inFlight[webhookID] = count + 1
        chosen.append(id)
        return true
    }

    private func capacity(of webhookID: String) -> Int {
        failingCapacity[webhookID] ?? webhookLimits[webhookID] ?? perWebhookLimit
    }
}
