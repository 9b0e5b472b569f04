import Foundation
import GRDB
import WebhookCore

extension SQLiteWebhookStore {
    public func enqueue(_ row: OutboxRow) async throws -> Int64 {
        try await write { db in
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
    }

    public func ingest(limit: Int, validator: OutboxValidator, now: Timestamp) async throws -> IngestReport {
        try await write { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT seq, event_id, workspace_id, type, CAST(data AS BLOB) AS data, target_webhook_id, created_at
                    FROM outbox ORDER BY seq LIMIT ?
                    """,
                arguments: [limit]
            )
            guard let last = rows.last else { return IngestReport() }
            var report = IngestReport()
            var subscribers: [String: [(id: String, events: EventSubscription)]] = [:]
            for row in rows {
                let outboxRow = Self.outboxRow(from: row)
                let checked = Self.createdAtRejection(row).map { Result<ValidatedEvent, OutboxValidator.Rejection>.failure($0) }
                switch checked ?? validator.validate(outboxRow) {
                case .failure(let rejection):
                    try Self.reject(db, row: row, reason: rejection.reason, now: now)
                    report.rejected.append(
                        RejectedEvent(
                            sequence: outboxRow.sequence,
                            eventID: outboxRow.eventID,
                            workspaceID: outboxRow.workspaceID,
                            type: outboxRow.type,
                            reason: rejection.reason,
                            createdAt: outboxRow.createdAt,
                            rejectedAt: now
                        )
                    )
                case .success(let event):
                    let targets: [String]
                    if let target = event.targetWebhookID {
                        guard try Self.fetchWebhook(db, id: target, workspaceID: event.workspaceID) != nil else {
                            let reason = "target webhook \(target) does not exist in workspace \(event.workspaceID)"
                            try Self.reject(db, row: row, reason: reason, now: now)
                            report.rejected.append(
                                RejectedEvent(
                                    sequence: outboxRow.sequence,
                                    eventID: outboxRow.eventID,
                                    workspaceID: outboxRow.workspaceID,
                                    type: outboxRow.type,
                                    reason: reason,
                                    createdAt: outboxRow.createdAt,
                                    rejectedAt: now
                                )
                            )
                            continue
                        }
                        targets = [target]
                    } else {
                        if subscribers[event.workspaceID] == nil {
                            subscribers[event.workspaceID] = try Self.activeSubscribers(db, workspaceID: event.workspaceID)
                        }
                        targets = subscribers[event.workspaceID, default: []]
                            .filter { $0.events.matches(event.type) }.map(\.id)
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
                    let job = try db.cachedStatement(
                        sql: """
                            INSERT INTO jobs (event_id, webhook_id, available_at, created_at, updated_at)
                            VALUES (?1, ?2, ?3, ?3, ?3)
                            """
                    )
                    for webhookID in targets {
                        try job.execute(arguments: [event.id, webhookID, now.milliseconds])
                        report.jobs += 1
                    }
                }
            }
            try db.execute(sql: "DELETE FROM outbox WHERE seq <= ?", arguments: [last["seq"] as Int64])
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
            case .blob(let data): return String(validating: data, as: UTF8.self)
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

    static func activeSubscribers(_ db: Database, workspaceID: String) throws -> [(id: String, events: EventSubscription)] {
        try Row.fetchAll(
            db,
            sql: "SELECT id, events FROM webhooks WHERE workspace_id = ? AND is_active = 1 AND deleted_at IS NULL",
            arguments: [workspaceID]
        ).map { row in
            let names = (try? JSONDecoderLite.stringArray(row["events"])) ?? []
            return (id: row["id"], events: EventSubscription(trusted: names))
        }
    }

    static func reject(_ db: Database, row: Row, reason: String, now: Timestamp) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO rejected_events
                    (seq, event_id, workspace_id, type, data, target_webhook_id, created_at, rejected_at, reason)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                row["seq"] as DatabaseValue, row["event_id"] as DatabaseValue, row["workspace_id"] as DatabaseValue,
                row["type"] as DatabaseValue, row["data"] as DatabaseValue, row["target_webhook_id"] as DatabaseValue,
                Int64.fromDatabaseValue(row["created_at"]) ?? 0, now.milliseconds, reason,
            ]
        )
    }

    public func rejectedEvents(limit: Int) async throws -> [RejectedEvent] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT seq, event_id, workspace_id, type, reason, created_at, rejected_at
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
