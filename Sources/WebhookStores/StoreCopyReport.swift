/// What `copy` did: rows copied and skipped per table, and how long it took.
public struct StoreCopyReport: Sendable {
    /// One table's figures.
    public struct Table: Sendable {
        public let name: String
        /// Rows written to the target.
        public var copied: Int
        /// Rows left out because a row with the same key was already there (`--into-non-empty`).
        public var skipped: Int
    }

    /// The SQLite file copied from.
    public let source: String
    /// The target, printable (no password).
    public let target: String
    /// Per table, in the order copied.
    public var tables: [Table]
    /// Whether the target's event-id key was replaced by the source's (an empty target), so ids
    /// derived for rows without an `event_id` stay the same; false when a non-empty target kept
    /// a different key of its own.
    public var eventIDKeyCopied: Bool
    public var elapsed: Duration

    /// Rows copied, all tables.
    public var copied: Int { tables.reduce(0) { $0 + $1.copied } }
    /// Rows skipped, all tables.
    public var skipped: Int { tables.reduce(0) { $0 + $1.skipped } }
}

/// Why `copy` refused to start.
public struct StoreCopyRefusal: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
