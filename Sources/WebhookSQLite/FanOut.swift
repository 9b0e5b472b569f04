import GRDB
import WebhookCore
import WebhookStorage

/// The rows of a fan-out in SQLite: ``FanOut`` applies the rules, this reads and writes them.
struct SQLiteFanOutRows: FanOutRows {
    let db: Database
    /// When the jobs are made (due at once).
    let now: Timestamp

    func unfinished(limit: Int) throws -> [(event: FanOutEvent, after: String)] {
        // Every ingest asks, and the answer is nearly always none: a prepared statement and a probe
        // of an empty partial index.
        try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT id, workspace_id, type, dispatched_at, fanout_after FROM events INDEXED BY events_fanning_out
                    WHERE fanout_after IS NOT NULL ORDER BY dispatched_at LIMIT ?
                    """),
            arguments: [limit]
        ).compactMap { row in
            guard let type = EventType(rawValue: row["type"]) else { return nil }
            let event = FanOutEvent(
                id: row["id"], workspaceID: row["workspace_id"], type: type,
                dispatchedAt: Timestamp(milliseconds: row["dispatched_at"]))
            return (event, row["fanout_after"])
        }
    }

    func subscribers(workspaceID: String, after: String?, limit: Int) throws -> [Subscriber] {
        // An index range from `after`: the first page starts below every id.
        try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT id, events, is_active, created_at FROM webhooks INDEXED BY webhooks_by_workspace
                    WHERE workspace_id = ?1 AND deleted_at IS NULL AND id > ?2 ORDER BY id LIMIT ?3
                    """),
            arguments: [workspaceID, after ?? "", limit]
        ).map { row in
            let names = (try? JSONDecoderLite.stringArray(row["events"])) ?? []
            return Subscriber(
                id: row["id"], events: EventSubscription(trusted: names), isActive: row["is_active"],
                createdAt: Timestamp(milliseconds: row["created_at"]))
        }
    }

    func setPosition(_ after: String?, of event: FanOutEvent) throws {
        try db.execute(
            sql: "UPDATE events SET fanout_after = ?3 WHERE workspace_id = ?1 AND id = ?2",
            arguments: [event.workspaceID, event.id, after]
        )
    }

    func makeJobs(of event: FanOutEvent, webhookIDs: [String], states: [DeliveryRules.JobState]) throws {
        let job = try db.cachedStatement(
            sql: """
                INSERT OR IGNORE INTO jobs (event_id, webhook_id, state, available_at, created_at, updated_at)
                VALUES (?1, ?2, ?3, ?4, ?4, ?4)
                """
        )
        for (webhookID, state) in zip(webhookIDs, states) {
            try job.executeRaw { values in
                values.bind(event.id)
                values.bind(webhookID)
                values.bind(state.rawValue)
                values.bind(now.milliseconds)
            }
        }
    }
}
