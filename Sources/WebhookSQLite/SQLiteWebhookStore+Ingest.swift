import Foundation
import GRDB
import WebhookCore
import WebhookStorage

extension SQLiteWebhookStore {
    public func enqueue(_ row: OutboxRow) async throws -> Int64 {
        try await write(durable: true) { db in try Self.insertOutboxRow(db, row) }
    }

    /// Inserts `row` into the outbox as a producer's INSERT does; returns its sequence.
    static func insertOutboxRow(_ db: Database, _ row: OutboxRow) throws -> Int64 {
        try db.execute(
            sql: """
                INSERT INTO outbox (event_id, workspace_id, type, data, target_webhook_id, created_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                row.eventID, row.workspaceID, row.type, row.data.map { String(decoding: $0, as: UTF8.self) },
                row.targetWebhookID, row.createdAt.milliseconds,
            ]
        )
        return db.lastInsertedRowID
    }

    /// The most of a rejected row's `data` kept in `rejected_events`.
    static let rejectedDataBytes = 4096

    /// Stop taking rows into one ingest transaction once their data adds up to this many bytes,
    /// so the transaction stays short for producers waiting on the write lock.
    static let ingestBatchBytes = 8 << 20

    public func hasOutboxRows() async throws -> Bool {
        try await read { db in
            try Bool.fetchOne(
                db,
                sql: """
                    SELECT EXISTS (SELECT 1 FROM outbox)
                        OR EXISTS (SELECT 1 FROM events INDEXED BY events_fanning_out WHERE fanout_after IS NOT NULL)
                    """
            ) ?? false
        }
    }

    public func ingest(limit: Int, jobLimit: Int, validator: OutboxValidator, now: Timestamp) async throws
        -> IngestReport
    {
        let validator = try await withEventIDKey(validator)
        return try await write { db in
            try Self.ingest(db, limit: limit, jobLimit: jobLimit, validator: validator, now: now)
        }
    }

    /// `validator` with this database's key for derived event ids, read once per store and kept
    /// (migration 0003 writes it once; it never changes).
    func withEventIDKey(_ validator: OutboxValidator) async throws -> OutboxValidator {
        try await eventIDKey.keyed(validator) {
            try await read { db in
                try String.fetchOne(db, sql: "SELECT value FROM daemon_settings WHERE name = 'event_id_key'") ?? ""
            }
        }
    }

    static func ingest(_ db: Database, limit: Int, jobLimit: Int, validator: OutboxValidator, now: Timestamp) throws
        -> IngestReport
    {
        var validator = validator
        if validator.eventIDKey.isEmpty {
            // Callers pass the key kept by `withEventIDKey`; read it here only if one did not.
            validator.eventIDKey =
                try String.fetchOne(db, sql: "SELECT value FROM daemon_settings WHERE name = 'event_id_key'") ?? ""
        }
        var report = IngestReport()
        var fanOut = FanOut(rows: SQLiteFanOutRows(db: db, now: now), budget: max(1, jobLimit))
        // Fan-outs an earlier transaction left unfinished (their event matched more webhooks than
        // one transaction makes jobs for) go on first, oldest first.
        try fanOut.resume(report: &report)
        guard fanOut.budget > 0 else {
            report.hasMore = true
            return report
        }
        // One row at a time, and a `data` over the limit never reaches Swift (SQLite reads it
        // to measure it, then lets it go): however large the rows a producer wrote, the daemon
        // holds at most one row's data at a time.
        let rows = try Row.fetchCursor(
            db.cachedStatement(
                sql: """
                    SELECT seq, event_id, workspace_id, type, target_webhook_id, created_at,
                        length(CAST(data AS BLOB)) AS data_bytes,
                        CASE WHEN length(CAST(data AS BLOB)) <= ?2 THEN CAST(data AS BLOB) END AS data
                    FROM outbox ORDER BY seq LIMIT ?1
                    """),
            arguments: [limit, validator.maximumDataBytes]
        )
        var last: Int64?
        var bytes = 0
        // Rows are taken until their data reaches the byte budget or their jobs the job budget,
        // so that the write lock is held for a few milliseconds, not for a fan-out to thousands.
        while bytes < ingestBatchBytes, fanOut.budget > 0, let row = try rows.next() {
            let outboxRow = Self.outboxRow(from: row)
            let dataBytes: Int = row["data_bytes"] ?? 0
            last = outboxRow.sequence
            bytes += dataBytes
            let early = Self.createdAtRejection(row) ?? validator.rejection(dataBytes: dataBytes)
            switch early.map({ Result<ValidatedEvent, OutboxValidator.Rejection>.failure($0) })
                ?? validator.validate(outboxRow)
            {
            case .failure(let rejection):
                report.rejected.append(try Self.reject(db, outboxRow, reason: rejection.reason, now: now))
            case .success(let event):
                var target: Subscriber?
                if let targetID = event.targetWebhookID {
                    guard let webhook = try Self.fetchWebhook(db, id: targetID, workspaceID: event.workspaceID) else {
                        let reason = "target webhook \(targetID) does not exist in workspace \(event.workspaceID)"
                        report.rejected.append(try Self.reject(db, outboxRow, reason: reason, now: now))
                        continue
                    }
                    target = Subscriber(
                        id: webhook.id, events: webhook.events, isActive: webhook.isActive, createdAt: webhook.createdAt
                    )
                }
                let inserted = try db.cachedStatement(
                    sql: """
                        INSERT OR IGNORE INTO events (id, workspace_id, type, payload, created_at, dispatched_at)
                        VALUES (?, ?, ?, ?, ?, ?)
                        """
                )
                try inserted.execute(arguments: [
                    event.id, event.workspaceID, event.type.rawValue, Data(event.payload),
                    event.createdAt.milliseconds, now.milliseconds,
                ])
                guard db.changesCount == 1 else {
                    report.duplicates += 1
                    continue
                }
                report.events += 1
                let pending = FanOutEvent(
                    id: event.id, workspaceID: event.workspaceID, type: event.type, dispatchedAt: now)
                if let target {
                    try fanOut.make([target], for: pending, report: &report)
                } else {
                    try fanOut.fanOut(pending, after: nil, report: &report)
                }
            }
        }
        // Stopped on a budget: more rows (or the rest of a fan-out) may wait; at worst one empty
        // pass follows.
        report.hasMore = bytes >= ingestBatchBytes || fanOut.budget <= 0
        guard let last else { return report }
        try db.execute(sql: "DELETE FROM outbox WHERE seq <= ?", arguments: [last])
        return report
    }

    static func outboxRow(from row: Row) -> OutboxRow {
        // Producers may have stored any type in any column: convert leniently, never trap.
        func text(_ column: String) -> String? {
            let value: DatabaseValue = row[column]
            switch value.storage {
            case .string(let string): return string
            case .int64(let number): return String(number)
            case .double(let number): return String(number)
            // Invalid UTF-8 is kept visible (U+FFFD) so the checks refuse it: a producer's
            // event_id must not turn into "no event_id" and a fresh one.
            case .blob(let data): return String(decoding: data, as: UTF8.self)
            case .null: return nil
            }
        }
        let data: DatabaseValue = row["data"]
        let bytes: [UInt8]? =
            switch data.storage {
            case .blob(let blob): [UInt8](blob)
            case .string(let string): Array(string.utf8)
            case .int64, .double: Array((text("data") ?? "").utf8)
            case .null: nil
            }
        let created: DatabaseValue = row["created_at"]
        return OutboxRow(
            sequence: row["seq"],
            eventID: text("event_id"),
            workspaceID: text("workspace_id"),
            type: text("type"),
            data: bytes,
            targetWebhookID: text("target_webhook_id"),
            createdAt: Timestamp(milliseconds: Int64.fromDatabaseValue(created) ?? 0)
        )
    }

    /// Why a row's `created_at` cannot be used, when it is not an integer.
    ///
    /// The column has INTEGER affinity, so numbers and numeric text arrive as integers; what is
    /// left (a fraction, other text, a BLOB) was never a time in milliseconds. Reading it as 0
    /// would send the event dated 1970.
    static func createdAtRejection(_ row: Row) -> OutboxValidator.Rejection? {
        let value: DatabaseValue = row["created_at"]
        let kind: String
        switch value.storage {
        case .int64: return nil
        case .double: kind = "a number with a fraction"
        case .string: kind = "text"
        case .blob: kind = "a BLOB"
        case .null: kind = "NULL"
        }
        return OutboxValidator.Rejection(
            reason: "created_at must be a whole number of milliseconds since the Unix epoch, not \(kind)"
        )
    }

    /// Moves outbox row `row` to `rejected_events` with `reason`.
    ///
    /// The identifying columns are stored as the text the checks saw (readable whatever the
    /// producer stored); of `data`, SQLite copies the first ``rejectedDataBytes`` bytes as they
    /// are, never through memory here: enough to see what was wrong, not a second copy of a
    /// producer's megabytes.
    static func reject(_ db: Database, _ row: OutboxRow, reason: String, now: Timestamp) throws -> RejectedEvent {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO rejected_events
                    (seq, event_id, workspace_id, type, data, target_webhook_id, created_at, rejected_at, reason)
                SELECT seq, ?2, ?3, ?4, substr(CAST(data AS BLOB), 1, ?8), ?5,
                    CASE typeof(created_at) WHEN 'integer' THEN created_at ELSE 0 END, ?6, ?7
                FROM outbox WHERE seq = ?1
                """,
            arguments: [
                row.sequence, row.eventID, row.workspaceID, row.type, row.targetWebhookID, now.milliseconds, reason,
                rejectedDataBytes,
            ]
        )
        return RejectedEvent(
            sequence: row.sequence,
            eventID: row.eventID,
            workspaceID: row.workspaceID,
            type: row.type,
            reason: reason,
            createdAt: row.createdAt,
            rejectedAt: now
        )
    }

    public func rejectedEvents(limit: Int) async throws -> [RejectedEvent] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT seq, CAST(event_id AS TEXT) AS event_id, CAST(workspace_id AS TEXT) AS workspace_id,
                        CAST(type AS TEXT) AS type, reason, created_at, rejected_at
                    FROM rejected_events ORDER BY seq DESC LIMIT ?
                    """,
                arguments: [limit]
            ).map { row in
                RejectedEvent(
                    sequence: row["seq"],
                    eventID: row["event_id"],
                    workspaceID: row["workspace_id"],
                    type: row["type"],
                    reason: row["reason"],
                    createdAt: Timestamp(milliseconds: row["created_at"]),
                    rejectedAt: Timestamp(milliseconds: row["rejected_at"])
                )
            }
        }
    }
}
