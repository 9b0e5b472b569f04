import WebhookCore

/// One signed POST to send: the daemon builds it, the delivery client sends it.
public struct OutboundRequest: Sendable {
    /// The caller's handle for this request, handed back with its completion.
    public var tag: UInt64
    /// The absolute http or https URL to POST to.
    public var url: String
    /// The exact bytes to send as the body (already canonical JSON).
    public var body: [UInt8]
    /// Extra request headers as `Name: value` lines (signature, event id, ...).
    public var headers: [String]

    public init(tag: UInt64, url: String, body: [UInt8], headers: [String]) {
        self.tag = tag
        self.url = url
        self.body = body
        self.headers = headers
    }
}

/// A finished request: the tag it was submitted with and how it went.
public struct CompletedRequest: Sendable {
    public var tag: UInt64
    public var outcome: DeliveryOutcome

    public init(tag: UInt64, outcome: DeliveryOutcome) {
        self.tag = tag
        self.outcome = outcome
    }
}
