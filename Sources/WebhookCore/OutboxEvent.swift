/// An outbox row as a producer inserted it, before any check.
///
/// Every column may be missing or wrong: the daemon checks the row and sets it aside with a
/// reason rather than failing on it.
public struct OutboxRow: Sendable, Hashable {
    /// The row's position in the outbox; rows are taken in this order.
    public var sequence: Int64
    /// The producer's own event id, for idempotency; one is generated when absent.
    public var eventID: String?
    public var workspaceID: String?
    public var type: String?
    /// The `data` column's bytes (TEXT or BLOB), exactly as stored.
    public var data: [UInt8]?
    /// Set only for a ping: the one webhook the event goes to.
    public var targetWebhookID: String?
    public var createdAt: Timestamp

    public init(
        sequence: Int64,
        eventID: String?,
        workspaceID: String?,
        type: String?,
        data: [UInt8]?,
        targetWebhookID: String? = nil,
        createdAt: Timestamp
    ) {
        self.sequence = sequence
        self.eventID = eventID
        self.workspaceID = workspaceID
        self.type = type
        self.data = data
        self.targetWebhookID = targetWebhookID
        self.createdAt = createdAt
    }
}

/// An event that passed every check, with the exact body that will be signed and sent.
public struct ValidatedEvent: Sendable, Hashable {
    public var id: String
    public var workspaceID: String
    public var type: EventType
    /// The canonical JSON body `{"id":…,"type":…,"created":…,"data":…}`.
    public var payload: [UInt8]
    public var createdAt: Timestamp
    public var targetWebhookID: String?
}

/// Turns outbox rows into events, or into a reason for setting them aside.
public struct OutboxValidator: Sendable {
    /// The largest `data` accepted, in bytes.
    public var maximumDataBytes: Int

    /// The database's key for deriving the ids of events whose producer gave none (hex text).
    public var eventIDKey: String

    public init(maximumDataBytes: Int = 256 * 1024, eventIDKey: String = "") {
        self.maximumDataBytes = maximumDataBytes
        self.eventIDKey = eventIDKey
    }

    /// The id of an event whose producer gave none, derived from the outbox row itself: taken in
    /// twice (a power loss undid the first time), the row gets the same id both times.
    public func derivedEventID(for row: OutboxRow) -> String {
        var message: [UInt8] = []
        message.reserveCapacity(32 + (row.data?.count ?? 0))
        withUnsafeBytes(of: row.sequence.bigEndian) { message.append(contentsOf: $0) }
        withUnsafeBytes(of: row.createdAt.milliseconds.bigEndian) { message.append(contentsOf: $0) }
        message.append(contentsOf: (row.workspaceID ?? "").utf8)
        message.append(0)
        message.append(contentsOf: (row.type ?? "").utf8)
        message.append(0)
        message.append(contentsOf: row.data ?? [])
        let digest = WebhookSignature.digest(body: message, secret: eventIDKey)
        return Identifier.derived(Identifier.event, at: row.createdAt, digest: digest)
    }

    /// Why a row was set aside.
    public struct Rejection: Error, Sendable, Hashable, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }

        /// A rejection with this reason, as shown to operators.
        public init(reason: String) {
            self.reason = reason
        }
    }

    /// Checks `row` and builds its payload; the id is the producer's or a new `evt_` id.
    public func validate(_ row: OutboxRow) -> Result<ValidatedEvent, Rejection> {
        func reject(_ reason: String) -> Result<ValidatedEvent, Rejection> { .failure(Rejection(reason: reason)) }

        guard let workspace = row.workspaceID, !workspace.isEmpty else {
            return reject("workspace_id is missing")
        }
        do throws(WebhookValidation.Invalid) {
            try WebhookValidation.validateWorkspace(workspace)
        } catch {
            return reject("workspace_id " + error.message.dropFirst("workspace ".count))
        }
        guard let typeName = row.type, !typeName.isEmpty else { return reject("type is missing") }
        guard let type = EventType(rawValue: typeName) else {
            return reject("type \"\(typeName.prefix(64))\" is not a known event type")
        }
        if type == .webhookPing, row.targetWebhookID == nil {
            return reject("webhook.ping is sent only through the ping endpoint")
        }
        let id: String
        if let given = row.eventID {
            guard (1...128).contains(given.utf8.count),
                given.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
            else {
                return reject("event_id must be 1 to 128 printable ASCII characters without spaces")
            }
            id = given
        } else {
            id = derivedEventID(for: row)
        }
        guard (0...Timestamp.latestRepresentable.milliseconds).contains(row.createdAt.milliseconds) else {
            return reject(
                "created_at must be milliseconds since the Unix epoch, from 0 to "
                    + "\(Timestamp.latestRepresentable.milliseconds) (year 9999), not \(row.createdAt.milliseconds)"
            )
        }
        guard let data = row.data else { return reject("data is missing") }
        if let tooLarge = rejection(dataBytes: data.count) { return .failure(tooLarge) }
        let document: CanonicalJSON.Document
        do throws(CanonicalJSONError) {
            document = try CanonicalJSON.canonicalize(data)
        } catch {
            return reject("data is not valid JSON: \(error.message)")
        }
        guard document.kind == .object else {
            return reject("data must be a JSON object, not \(document.kind)")
        }
        return .success(
            ValidatedEvent(
                id: id,
                workspaceID: workspace,
                type: type,
                payload: Self.payload(id: id, type: type, created: row.createdAt, canonicalData: document.bytes),
                createdAt: row.createdAt,
                targetWebhookID: row.targetWebhookID
            )
        )
    }

    /// The rejection of a `data` of `dataBytes` bytes, `nil` when that size is allowed.
    ///
    /// Storage uses it to set aside an oversized row without reading its data into memory.
    public func rejection(dataBytes: Int) -> Rejection? {
        guard dataBytes > maximumDataBytes else { return nil }
        return Rejection(reason: "data is \(dataBytes) bytes, more than the limit of \(maximumDataBytes)")
    }

    /// The body sent for an event: compact, in the documented key order, with `data` already canonical.
    public static func payload(id: String, type: EventType, created: Timestamp, canonicalData: [UInt8]) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(canonicalData.count + id.utf8.count + 80)
        body.append(contentsOf: #"{"id":"#.utf8)
        body.append(contentsOf: CanonicalJSON.quote(id).utf8)
        body.append(contentsOf: #","type":"#.utf8)
        body.append(contentsOf: CanonicalJSON.quote(type.rawValue).utf8)
        body.append(contentsOf: #","created":""#.utf8)
        body.append(contentsOf: created.iso8601.utf8)
        body.append(contentsOf: #"","data":"#.utf8)
        body.append(contentsOf: canonicalData)
        body.append(UInt8(ascii: "}"))
        return body
    }
}
