import WebhookCore

/// A webhook an event may fan out to: what fan-out reads of it.
public struct Subscriber: Sendable, Hashable {
    public var id: String
    public var events: EventSubscription
    /// Enabled: a disabled webhook still gets the event, as a held job.
    public var isActive: Bool
    public var createdAt: Timestamp

    public init(id: String, events: EventSubscription, isActive: Bool, createdAt: Timestamp) {
        self.id = id
        self.events = events
        self.isActive = isActive
        self.createdAt = createdAt
    }

    /// Whether an event of `type` taken in at `dispatchedAt` fans out to this webhook: only
    /// webhooks that existed then and subscribe to the type get it, so a fan-out spread over
    /// several transactions reaches exactly the webhooks one transaction would have.
    public func receives(_ type: EventType, dispatchedAt: Timestamp) -> Bool {
        createdAt <= dispatchedAt && events.matches(type)
    }
}
