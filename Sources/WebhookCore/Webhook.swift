/// A customer's endpoint and what it subscribes to.
public struct Webhook: Sendable, Hashable {
    /// The public id, `wh_` and 20 random characters.
    public var id: String
    /// The workspace that owns the webhook; only that workspace sees it.
    public var workspaceID: String
    /// Where events are POSTed (http or https).
    public var url: String
    /// The event types delivered to it.
    public var events: EventSubscription
    /// The HMAC-SHA256 key requests are signed with. Never logged.
    public var secret: String
    /// False once disabled, by hand or after too many consecutive failures.
    public var isActive: Bool
    /// Failed attempts since the last success.
    public var consecutiveFailures: Int
    /// Why the webhook was disabled, when it is.
    public var disabledReason: String?
    /// When the webhook was disabled, when it is.
    public var disabledAt: Timestamp?
    /// The webhook's circuit: closed, or open while its endpoint fails (see ``DeliveryRules``).
    public var circuit: WebhookCircuit
    /// Deliveries kept while the webhook is disabled, sent when it is enabled again.
    public var heldDeliveries: Int
    /// The secret the current one replaced, valid until ``previousSecretExpiresAt``. Never logged.
    public var previousSecret: String?
    /// When ``previousSecret`` stops signing deliveries.
    public var previousSecretExpiresAt: Timestamp?
    /// The webhook's own request headers. Their values are never logged nor shown again.
    public var headers: CustomHeaders
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(
        id: String,
        workspaceID: String,
        url: String,
        events: EventSubscription,
        secret: String,
        isActive: Bool = true,
        consecutiveFailures: Int = 0,
        disabledReason: String? = nil,
        disabledAt: Timestamp? = nil,
        circuit: WebhookCircuit? = nil,
        heldDeliveries: Int = 0,
        previousSecret: String? = nil,
        previousSecretExpiresAt: Timestamp? = nil,
        headers: CustomHeaders = CustomHeaders(),
        createdAt: Timestamp,
        updatedAt: Timestamp
    ) {
        self.id = id
        self.workspaceID = workspaceID
        self.url = url
        self.events = events
        self.secret = secret
        self.isActive = isActive
        self.consecutiveFailures = consecutiveFailures
        self.disabledReason = disabledReason
        self.disabledAt = disabledAt
        self.circuit = circuit ?? WebhookCircuit(consecutiveFailures: consecutiveFailures)
        self.heldDeliveries = heldDeliveries
        self.previousSecret = previousSecret
        self.previousSecretExpiresAt = previousSecret == nil ? nil : previousSecretExpiresAt
        self.headers = headers
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// The secret's first four characters and "…", safe to show after creation.
    public var secretHint: String { Self.hint(for: secret) }

    /// The secrets, current and previous, as ``SecretRotation`` decides with them.
    public var rotation: SecretRotation {
        SecretRotation(current: secret, previous: previousSecret, expiresAt: previousSecretExpiresAt)
    }

    /// The hint for `secret`: its first four characters and "…".
    ///
    /// A generated secret (`whsec_` and base64) shows `whsec_` and the next four characters, so two
    /// generated secrets can be told apart by their hints.
    public static func hint(for secret: String) -> String {
        let prefix = StandardWebhookSignature.Key.prefix
        if secret.hasPrefix(prefix) { return String(secret.prefix(prefix.count + 4)) + "…" }
        return String(secret.prefix(4)) + "…"
    }
}

/// What a caller gives to create a webhook; validated by ``WebhookValidation``.
public struct NewWebhook: Sendable, Hashable {
    public var workspaceID: String
    public var url: String
    public var events: EventSubscription
    public var secret: String
    public var headers: CustomHeaders

    public init(
        workspaceID: String, url: String, events: EventSubscription, secret: String,
        headers: CustomHeaders = CustomHeaders()
    ) {
        self.workspaceID = workspaceID
        self.url = url
        self.events = events
        self.secret = secret
        self.headers = headers
    }
}

/// Changes to a webhook; `nil` fields stay as they are.
public struct WebhookChanges: Sendable, Hashable {
    public var url: String?
    public var events: EventSubscription?
    /// A new secret in force at once, with no overlap: the previous secret, if any, stops too.
    /// ``SecretRotation`` is the way to change it without downtime.
    public var secret: String?
    /// Setting true re-activates the webhook, resets its failure count and resumes its paused jobs.
    public var isActive: Bool?
    /// New request headers replacing all the old ones (empty: none).
    public var headers: CustomHeaders?

    public init(
        url: String? = nil, events: EventSubscription? = nil, secret: String? = nil, isActive: Bool? = nil,
        headers: CustomHeaders? = nil
    ) {
        self.url = url
        self.events = events
        self.secret = secret
        self.isActive = isActive
        self.headers = headers
    }
}
