/// A webhook as the public API and `--json` CLI output show it, fields in the documented order.
///
/// The secret itself is present only in the answer to its creation; afterwards only the hint.
public struct WebhookRepresentation: Codable, Sendable, Hashable {
    public var id: String
    public var url: String
    public var events: [String]
    public var is_active: Bool
    public var secret: String?
    public var secret_hint: String
    public var created_at: String
    public var updated_at: String
    public var consecutive_failures: Int
    public var disabled_reason: String?
    public var disabled_at: String?

    /// The representation of `webhook`; `revealingSecret` only when answering its creation.
    public init(_ webhook: Webhook, revealingSecret: Bool = false) {
        id = webhook.id
        url = webhook.url
        events = webhook.events.names
        is_active = webhook.isActive
        secret = revealingSecret ? webhook.secret : nil
        secret_hint = webhook.secretHint
        created_at = webhook.createdAt.iso8601
        updated_at = webhook.updatedAt.iso8601
        consecutive_failures = webhook.consecutiveFailures
        disabled_reason = webhook.disabledReason
        disabled_at = webhook.disabledAt?.iso8601
    }
}
