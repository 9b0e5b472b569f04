/// The request headers of one delivery attempt, besides `Content-Type` and `User-Agent` (the
/// delivery client sets those on every request).
///
/// The daemon sends what ``lines(_:signatures:)`` writes; the delivery log shows the same lines
/// through ``redacted(_:signatureCount:headerNames:)``, with signatures and header values hidden.
public struct DeliveryHeaders: Sendable, Hashable {
    public var eventID: String
    public var eventType: String
    public var attempt: Int
    public var webhookID: String
    /// `webhook-timestamp`: Unix seconds of the attempt.
    public var timestamp: Int64

    public init(eventID: String, eventType: String, attempt: Int, webhookID: String, timestamp: Int64) {
        self.eventID = eventID
        self.eventType = eventType
        self.attempt = attempt
        self.webhookID = webhookID
        self.timestamp = timestamp
    }

    /// The signatures of one attempt.
    public struct Signatures: Sendable, Hashable {
        /// `X-QR3-Signature`: `sha256=` and hex.
        public var legacy: String
        /// `webhook-signature`: one `v1,` entry per valid secret.
        public var standard: String
        /// How many entries `standard` holds.
        public var count: Int

        public init(legacy: String, standard: String, count: Int = 1) {
            self.legacy = legacy
            self.standard = standard
            self.count = count
        }
    }

    /// Signs an attempt of `body` under the secrets `rotation` holds valid at `now`: once per secret
    /// for `webhook-signature`, once for `X-QR3-Signature`.
    public static func sign(body: [UInt8], eventID: String, timestamp: Int64, rotation: SecretRotation, now: Timestamp)
        -> Signatures
    {
        let keys = rotation.signingSecrets(at: now).map(StandardWebhookSignature.Key.init(secret:))
        return Signatures(
            legacy: WebhookSignature.header(body: body, secret: rotation.legacySecret(at: now)),
            standard: StandardWebhookSignature.header(id: eventID, timestamp: timestamp, body: body, keys: keys),
            count: keys.count
        )
    }

    /// The `Name: value` lines to send: the daemon's headers, then the webhook's own.
    public func lines(_ signatures: Signatures, custom: CustomHeaders = CustomHeaders()) -> [String] {
        var lines = [
            WebhookSignature.headerName + ": " + signatures.legacy,
            "X-QR3-Event-Id: " + eventID,
            "X-QR3-Event-Type: " + eventType,
            "X-QR3-Delivery-Attempt: " + String(attempt),
            "X-QR3-Webhook-Id: " + webhookID,
            StandardWebhookSignature.idHeader + ": " + eventID,
            StandardWebhookSignature.timestampHeader + ": " + String(timestamp),
            StandardWebhookSignature.signatureHeader + ": " + signatures.standard,
        ]
        if !custom.isEmpty { lines += custom.lines }
        return lines
    }

    /// The headers an attempt was sent with, as the delivery log shows them: `Content-Type` first,
    /// signatures and the webhook's own header values replaced by `[redacted]`.
    public func redacted(signatureCount: Int, headerNames: [String]) -> [(name: String, value: String)] {
        let redacted = CustomHeaders.redacted
        let signatures = Signatures(
            legacy: WebhookSignature.prefix + redacted,
            standard: Array(repeating: "v1," + redacted, count: max(1, signatureCount)).joined(separator: " ")
        )
        let custom = CustomHeaders(headerNames.map { CustomHeaders.Header(name: $0, value: redacted) })
        return (["Content-Type: application/json"] + lines(signatures, custom: custom)).map { line in
            let colon = line.firstIndex(of: ":")!
            return (String(line[..<colon]), String(line[line.index(colon, offsetBy: 2)...]))
        }
    }
}
