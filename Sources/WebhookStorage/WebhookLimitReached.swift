/// A workspace has as many webhooks as it may (`max-webhooks-per-workspace`).
public struct WebhookLimitReached: Error, Sendable, CustomStringConvertible {
    /// The most webhooks a workspace may have.
    public let limit: Int

    public init(limit: Int) {
        self.limit = limit
    }

    public var description: String {
        "this workspace has \(limit) webhooks, the most it may have (max-webhooks-per-workspace); delete one first"
    }
}
