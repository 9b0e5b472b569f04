import Synchronization

/// This process's current in-flight limit of each webhook, as the delivery loop last published it.
///
/// The loop adapts the limits (``ConcurrencyLimits`` in WebhookCore) and publishes them here
/// when one changes; the API's webhook object and the metrics read them from any thread.
/// A webhook that had no attempt in this process yet is at `initial`.
final class ConcurrencyLimitBoard: Sendable {
    private let limits = Mutex<(table: [String: Int], version: Int)>(([:], 0))
    /// The limit of a webhook not seen yet.
    let initial: Int

    init(initial: Int) {
        self.initial = initial
    }

    /// Replaces the published limits (copy on write: the loop's table is not copied here).
    func publish(_ current: [String: Int]) {
        limits.withLock { $0 = (current, $0.version + 1) }
    }

    /// The current limit of `webhookID`.
    func limit(of webhookID: String) -> Int {
        limits.withLock { $0.table[webhookID] } ?? initial
    }

    /// Every webhook's limit that has been adapted, by webhook id.
    var snapshot: [String: Int] { limits.withLock { $0.table } }

    /// The limits and a number that changes with every publication.
    var versioned: (table: [String: Int], version: Int) { limits.withLock { $0 } }
}
