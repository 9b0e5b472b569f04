/// The event types a webhook can subscribe to, from the public documentation.
public enum EventType: String, Sendable, Hashable, CaseIterable, Codable {
    case qrCreated = "qr.created"
    case qrUpdated = "qr.updated"
    case qrDeleted = "qr.deleted"
    case qrScanned = "qr.scanned"
    case qrFlagged = "qr.flagged"
    /// Alias of `qr.scanned`: a webhook subscribed to either receives both.
    case scanCreated = "scan.created"
    case workspaceUpdated = "workspace.updated"
    /// A test ping, sent through the ping endpoint to one webhook only.
    case webhookPing = "webhook.ping"

    /// The wildcard a webhook subscribes with to receive every event.
    public static let wildcard = "*"

    /// What each type means, for `event-types` listings.
    public var summary: String {
        switch self {
        case .qrCreated: "QR code created"
        case .qrUpdated: "QR code updated (URL, state, tags)"
        case .qrDeleted: "QR code deleted"
        case .qrScanned: "QR code scanned"
        case .qrFlagged: "QR code flagged as unsafe"
        case .scanCreated: "Scan event (alias of qr.scanned)"
        case .workspaceUpdated: "Workspace updated"
        case .webhookPing: "Test ping (sent through the ping endpoint)"
        }
    }

    /// The types that count as this one when matching subscriptions (itself and its alias).
    public var equivalents: [EventType] {
        switch self {
        case .qrScanned, .scanCreated: [.qrScanned, .scanCreated]
        default: [self]
        }
    }
}

/// The list of event types a webhook subscribes to, as given by its owner.
public struct EventSubscription: Sendable, Hashable {
    /// The subscribed names, each an `EventType` raw value or `*`, in the order given.
    public let names: [String]

    /// Validates a subscription list: non-empty, each name known or `*`, no duplicates kept.
    ///
    /// - Throws: ``EventSubscription/Invalid`` naming the offending entry.
    public init(validating names: [String]) throws(Invalid) {
        guard !names.isEmpty else { throw Invalid(message: "events must list at least one event type") }
        var seen = Set<String>()
        var kept: [String] = []
        for name in names {
            guard name == EventType.wildcard || EventType(rawValue: name) != nil else {
                throw Invalid(
                    message: "events contains unknown event type \"\(name)\"; known types are * and "
                        + EventType.allCases.map(\.rawValue).joined(separator: ", ")
                )
            }
            if seen.insert(name).inserted { kept.append(name) }
        }
        self.names = kept
    }

    /// Wraps names already validated (read back from storage).
    public init(trusted names: [String]) {
        self.names = names
    }

    /// Whether an event of `type` is delivered to a webhook with this subscription.
    ///
    /// `*` matches every type except `webhook.ping`, which only goes to the pinged webhook.
    public func matches(_ type: EventType) -> Bool {
        if type == .webhookPing { return false }
        for name in names {
            if name == EventType.wildcard { return true }
            if let subscribed = EventType(rawValue: name), type.equivalents.contains(subscribed) { return true }
        }
        return false
    }

    /// A subscription list that fails validation, with a message that names the problem.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }
}
