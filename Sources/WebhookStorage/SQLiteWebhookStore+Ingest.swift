import Foundation
import GRDB
import WebhookCore

extension SQLiteWebhookStore {
    public func enqueue(_ row: OutboxRow) async throws -> Int64 {
        try await write { db in try Self.insertOutboxRow(db, row) }
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

    /// Stop taking rows into one ingest transaction once their data adds up to this many bytes,
    /// so the transaction stays short for producers waiting on the write lock.
    static let ingestBatchBytes = 8 << 20

    public func hasOutboxRows() async throws -> Bool {
        try await read { db in try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM outbox)") ?? false }
    }

    public func ingest(limit: Int, validator: OutboxValidator, now: Timestamp) async throws -> IngestReport {
        let validator = try await withEventIDKey(validator)
        return try await write { db in try Self.ingest(db, limit: limit, validator: validator, now: now) }
    }

    /// `validator` with this database's key for derived event ids, read once per store and kept
    /// (migration 0003 writes it once; it never changes).
    func withEventIDKey(_ validator: OutboxValidator) async throws -> OutboxValidator {
        guard validator.eventIDKey.isEmpty else { return validator }
        var keyed = validator
        if let key = eventIDKey.withLock({ $0 }) {
            keyed.eventIDKey = key
            return keyed
        }
        let key = try await read { db in
            try String.fetchOne(db, sql: "SELECT value FROM daemon_settings WHERE name = 'event_id_key'") ?? ""
        }
        eventIDKey.withLock { $0 = key }
        keyed.eventIDKey = key
        return keyed
    }

    static func ingest(_ db: Database, limit: Int, validator: OutboxValidator, now: Timestamp) throws -> IngestReport {
        var validator = validator
        if validator.eventIDKey.isEmpty {
            // Callers pass the key kept by `withEventIDKey`; read it here only if one did not.
            validator.eventIDKey =
                try String.fetchOne(db, sql: "SELECT value FROM daemon_settings WHERE name = 'event_id_key'") ?? ""
        }
        do {
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
            var report = IngestReport()
            var last: Int64?
            var bytes = 0
            var subscribers: [String: [Subscriber]] = [:]
            while bytes < ingestBatchBytes, let row = try rows.next() {
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
                    let targets: [Subscriber]
                    if let target = event.targetWebhookID {
                        guard let webhook = try Self.fetchWebhook(db, id: target, workspaceID: event.workspaceID)
                        else {
                            let reason = "target webhook \(target) does not exist in workspace \(event.workspaceID)"
                            report.rejected.append(try Self.reject(db, outboxRow, reason: reason, now: now))
                            continue
                        }
                        targets = [Subscriber(id: webhook.id, events: webhook.events, isActive: webhook.isActive)]
                    } else {
                        if subscribers[event.workspaceID] == nil {
                            subscribers[event.workspaceID] = try Self.subscribers(db, workspaceID: event.workspaceID)
                        }
                        targets = subscribers[event.workspaceID, default: []].filter { $0.events.matches(event.type) }
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
                    // A disabled webhook's job is made all the same, held until the webhook is enabled.
                    let job = try db.cachedStatement(
                        sql: """
                            INSERT INTO jobs (event_id, webhook_id, state, available_at, created_at, updated_at)
                            VALUES (?1, ?2, ?3, ?4, ?4, ?4)
                            """
                    )
                    for webhook in targets {
                        try job.executeRaw { values in
                            values.bind(event.id)
                            values.bind(webhook.id)
                            values.bind(DeliveryRules.newJobState(webhookActive: webhook.isActive).rawValue)
                            values.bind(now.milliseconds)
                        }
                        report.jobs += 1
                        if !webhook.isActive { report.heldJobs += 1 }
                    }
                }
            }
            // Stopped on the byte budget: more rows may wait (at worst, one empty pass follows).
            report.hasMore = bytes >= ingestBatchBytes
            guard let last else { return report }
            try db.execute(sql: "DELETE FROM outbox WHERE seq <= ?", arguments: [last])
            return report
        }
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

    /// A webhook an event may fan out to.
    struct Subscriber {
        var id: String
        var events: EventSubscription
        var isActive: Bool
    }

    /// The workspace's webhooks, disabled ones included (their jobs are held).
    static func subscribers(_ db: Database, workspaceID: String) throws -> [Subscriber] {
        try Row.fetchAll(
            db,
            sql: "SELECT id, events, is_active FROM webhooks WHERE workspace_id = ? AND deleted_at IS NULL",
            arguments: [workspaceID]
        ).map { row in
            let names = (try? JSONDecoderLite.stringArray(row["events"])) ?? []
            return Subscriber(id: row["id"], events: EventSubscription(trusted: names), isActive: row["is_active"])
        }
    }

    /// Moves outbox row `row` to `rejected_events` with `reason`.
    ///
    /// The identifying columns are stored as the text the checks saw (readable whatever the
    /// producer stored); `data` is copied by SQLite as it is, never through memory here.
    static func reject(_ db: Database, _ row: OutboxRow, reason: String, now: Timestamp) throws -> RejectedEvent {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO rejected_events
                    (seq, event_id, workspace_id, type, data, target_webhook_id, created_at, rejected_at, reason)
                SELECT seq, ?2, ?3, ?4, data, ?5, CASE typeof(created_at) WHEN 'integer' THEN created_at ELSE 0 END, ?6, ?7
                FROM outbox WHERE seq = ?1
                """,
            arguments: [
                row.sequence, row.eventID, row.workspaceID, row.type, row.targetWebhookID, now.milliseconds, reason,
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
