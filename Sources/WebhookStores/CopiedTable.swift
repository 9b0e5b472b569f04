/// One table `copy` moves from SQLite to PostgreSQL: its columns, the SQLite query that reads
/// the rows to copy (columns in the same order), and how PostgreSQL takes them.
///
/// The two schemas have the same tables and columns on purpose: booleans are 0/1 integers and
/// times integer milliseconds on both, so values move as they are. SQLite-only tables
/// (`attempt_log`, `attempt_log_tail`, `schema_migrations`, `sqlite_sequence`) are not copied.
struct CopiedTable: Sendable {
    /// How a column travels: as text (`text[]`) or as an integer (`bigint[]`, which PostgreSQL
    /// narrows to `integer` or `smallint` on insert).
    enum Kind: Sendable {
        case text
        case integer
    }

    /// The table's name, the same in both databases.
    let name: String
    let columns: [(name: String, kind: Kind)]
    /// The SQLite SELECT of ``columns``, in order, of the rows to copy.
    let select: String
    /// Whether the insert supplies a `GENERATED ALWAYS` identity (`outbox.seq`).
    var overridingSystemValue = false
    /// What PostgreSQL does with a row whose key is already there.
    var onConflict = "ON CONFLICT DO NOTHING"

    /// `INSERT ... SELECT * FROM unnest($1::text[], $2::bigint[], ...)`: one statement per batch.
    var insert: String {
        let names = columns.map(\.name).joined(separator: ", ")
        let arrays = columns.enumerated().map { index, column in
            "$\(index + 1)::\(column.kind == .text ? "text" : "bigint")[]"
        }.joined(separator: ", ")
        return "INSERT INTO \(name) (\(names))\(overridingSystemValue ? " OVERRIDING SYSTEM VALUE" : "") "
            + "SELECT * FROM unnest(\(arrays)) \(onConflict)"
    }
}

extension CopiedTable {
    static let webhookColumns: [(name: String, kind: Kind)] = [
        ("id", .text), ("workspace_id", .text), ("url", .text), ("events", .text), ("secret", .text),
        ("is_active", .integer), ("consecutive_failures", .integer), ("disabled_reason", .text),
        ("disabled_at", .integer), ("created_at", .integer), ("updated_at", .integer), ("deleted_at", .integer),
        ("failing_since", .integer), ("last_failure_at", .integer), ("paused_until", .integer),
        ("disabled_by", .text), ("next_recovery_probe_at", .integer), ("jobs_to_settle", .integer),
        ("previous_secret", .text), ("previous_secret_expires_at", .integer), ("headers", .text),
    ]
    static let apiKeyColumns: [(name: String, kind: Kind)] = [
        ("id", .text), ("workspace_id", .text), ("prefix", .text), ("key_hash", .text), ("name", .text),
        ("created_at", .integer), ("revoked_at", .integer),
    ]
    static let eventColumns: [(name: String, kind: Kind)] = [
        ("id", .text), ("workspace_id", .text), ("type", .text), ("payload", .text), ("created_at", .integer),
        ("dispatched_at", .integer), ("fanout_after", .text),
    ]
    static let jobColumns: [(name: String, kind: Kind)] = [
        ("id", .integer), ("event_id", .text), ("webhook_id", .text), ("state", .text), ("attempts", .integer),
        ("available_at", .integer), ("lease_owner", .text), ("lease_expires_at", .integer),
        ("lease_token", .integer), ("created_at", .integer), ("updated_at", .integer),
        ("attempt_base", .integer), ("probe", .integer),
    ]
    static let outboxColumns: [(name: String, kind: Kind)] = [
        ("seq", .integer), ("event_id", .text), ("workspace_id", .text), ("type", .text), ("data", .text),
        ("target_webhook_id", .text), ("created_at", .integer),
    ]
    static let attemptColumns: [(name: String, kind: Kind)] = [
        ("id", .text), ("job_id", .integer), ("webhook_id", .text), ("event_id", .text), ("event_type", .text),
        ("attempt", .integer), ("status", .text), ("status_code", .integer), ("response_time_ms", .integer),
        ("failure_class", .text), ("response_excerpt", .text), ("next_retry_at", .integer),
        ("created_at", .integer), ("name_lookup_us", .integer), ("connect_us", .integer), ("tls_us", .integer),
        ("first_byte_us", .integer), ("total_us", .integer), ("remote_address", .text), ("signed_at", .integer),
        ("signatures", .integer), ("header_names", .text),
    ]
    static let rejectedColumns: [(name: String, kind: Kind)] = [
        ("seq", .integer), ("event_id", .text), ("workspace_id", .text), ("type", .text), ("data", .text),
        ("target_webhook_id", .text), ("created_at", .integer), ("rejected_at", .integer), ("reason", .text),
    ]

    private static func list(_ columns: [(name: String, kind: Kind)], prefix: String = "") -> String {
        columns.map { prefix + $0.name }.joined(separator: ", ")
    }

    /// The tables to copy, in an order that satisfies PostgreSQL's foreign keys (jobs and
    /// attempts name webhooks).
    ///
    /// Always: every webhook (deleted ones too: attempts name them), API key and outbox row (a
    /// row is removed from the outbox once taken in), the event-id key, pending and held jobs
    /// (a leased one unleased and due at `now`) and the events they need or that are still
    /// fanning out. With `withLog`, also every attempt, finished job, event and rejected row.
    static func plan(withLog: Bool, now: Int64) -> [CopiedTable] {
        let unfinished = "j.state IN ('pending', 'paused')"
        let jobs = list(jobColumns).replacingOccurrences(
            of: "available_at, lease_owner, lease_expires_at",
            with: "CASE WHEN lease_owner IS NULL THEN available_at ELSE \(now) END, NULL, NULL")
        var tables = [
            CopiedTable(
                name: "webhooks", columns: webhookColumns,
                select: "SELECT \(list(webhookColumns)) FROM webhooks ORDER BY id"),
            CopiedTable(
                name: "api_keys", columns: apiKeyColumns,
                select: "SELECT \(list(apiKeyColumns)) FROM api_keys ORDER BY id"),
            CopiedTable(
                name: "events", columns: eventColumns,
                select: withLog
                    ? "SELECT \(list(eventColumns)) FROM events ORDER BY workspace_id, id"
                    : """
                    SELECT \(list(eventColumns, prefix: "e.")) FROM events e
                    WHERE e.fanout_after IS NOT NULL OR EXISTS (
                        SELECT 1 FROM jobs j JOIN webhooks w ON w.id = j.webhook_id
                        WHERE j.event_id = e.id AND w.workspace_id = e.workspace_id AND \(unfinished))
                    ORDER BY e.workspace_id, e.id
                    """),
            CopiedTable(
                name: "jobs", columns: jobColumns,
                select: "SELECT \(jobs) FROM jobs j \(withLog ? "" : "WHERE \(unfinished) ")ORDER BY id"),
            CopiedTable(
                name: "outbox", columns: outboxColumns,
                select: "SELECT \(list(outboxColumns)) FROM outbox ORDER BY seq",
                overridingSystemValue: true),
        ]
        if withLog {
            tables += [
                CopiedTable(
                    name: "attempts", columns: attemptColumns,
                    select: "SELECT \(list(attemptColumns)) FROM attempts ORDER BY id"),
                CopiedTable(
                    name: "rejected_events", columns: rejectedColumns,
                    select: "SELECT \(list(rejectedColumns)) FROM rejected_events ORDER BY seq"),
            ]
        }
        return tables
    }
}
