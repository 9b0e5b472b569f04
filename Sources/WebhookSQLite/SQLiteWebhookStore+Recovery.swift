import Foundation
import GRDB
import WebhookCore
import WebhookStorage

extension SQLiteWebhookStore {
    /// Events looked at per recovery transaction, so that a recovery of months of events never
    /// holds the write lock for long.
    static let recoveryBatch = 500

    public func recover(_ request: RecoveryRequest) async throws -> RecoveryReport? {
        guard let webhook = try await webhook(id: request.webhookID, workspaceID: request.workspaceID) else {
            return nil
        }
        var report = RecoveryReport()
        report.held = !webhook.isActive
        // The workspace's events in the window, in time order, a batch per transaction; each batch
        // reads the jobs again, so a recovery running beside another queues nothing twice.
        var after: (createdAt: Int64, id: String) = (request.since.milliseconds - 1, "\u{10FFFF}")
        while true {
            let (batch, last) = try await write(durable: true) { [after] db in
                try Self.recoverBatch(db, webhook: webhook, request: request, after: after)
            }
            report.failed += batch.failed
            report.neverMade += batch.neverMade
            guard let last else { break }
            after = last
        }
        return report
    }

    /// Recovers the events after `after` (exclusive, in (created_at, id) order), up to a batch;
    /// returns what it queued and where the next batch starts (nil at the end of the window).
    private static func recoverBatch(
        _ db: Database, webhook: Webhook, request: RecoveryRequest, after: (createdAt: Int64, id: String)
    ) throws -> (RecoveryReport, (createdAt: Int64, id: String)?) {
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT e.id, e.type, e.created_at, e.dispatched_at, j.id AS job_id, j.state
                FROM events e INDEXED BY events_by_time
                LEFT JOIN jobs j ON j.event_id = e.id AND j.webhook_id = ?2
                WHERE e.workspace_id = ?1 AND e.created_at < ?4
                  AND (e.created_at > ?3 OR (e.created_at = ?3 AND e.id > ?5))
                ORDER BY e.created_at, e.id LIMIT ?6
                """,
            arguments: [
                webhook.workspaceID, webhook.id, after.createdAt, request.until.milliseconds, after.id,
                recoveryBatch,
            ]
        )
        var report = RecoveryReport()
        var failedJobs: [Int64] = []
        var missing: [String] = []
        for row in rows {
            let eventID: String = row["id"]
            if let jobID: Int64 = row["job_id"] {
                if (row["state"] as String) == DeliveryRules.JobState.failed.rawValue { failedJobs.append(jobID) }
                continue
            }
            // Never made: an event the webhook subscribes to (pings go only where they were
            // sent), taken in while the webhook existed.
            let typeName: String = row["type"]
            guard let type = EventType(rawValue: typeName), type != .webhookPing, webhook.events.matches(type),
                (row["dispatched_at"] as Int64) >= webhook.createdAt.milliseconds
            else { continue }
            missing.append(eventID)
        }
        report.failed = failedJobs.count
        report.neverMade = missing.count
        let next = rows.count < recoveryBatch ? nil : rows.last.map { ($0["created_at"] as Int64, $0["id"] as String) }
        guard !request.dryRun else { return (report, next) }
        let state = DeliveryRules.newJobState(webhookActive: webhook.isActive).rawValue
        let now = request.now.milliseconds
        // A fresh run of attempts: the schedule starts again at the job's attempts so far.
        try db.execute(
            sql: """
                UPDATE jobs SET state = ?2, attempt_base = attempts, available_at = ?3, updated_at = ?3
                WHERE id IN (SELECT value FROM json_each(?1)) AND state = 'failed'
                """,
            arguments: [JSONDecoderLite.encode(failedJobs), state, now]
        )
        let insert = try db.cachedStatement(
            sql: """
                INSERT OR IGNORE INTO jobs (event_id, webhook_id, state, available_at, created_at, updated_at)
                VALUES (?1, ?2, ?3, ?4, ?4, ?4)
                """
        )
        for eventID in missing {
            try insert.execute(arguments: [eventID, webhook.id, state, now])
        }
        return (report, next)
    }

    public func queueRecoveryProbes(interval: Duration, now: Timestamp) async throws -> [RecoveryProbe] {
        let intervalMs = interval.inMilliseconds
        return try await write { db in
            // Webhooks disabled by failures or a 410 at least an interval ago and not probed within
            // the interval: one probe per interval at most, across every process.
            let due = try Row.fetchAll(
                db,
                sql: """
                    SELECT w.id, w.workspace_id FROM webhooks w INDEXED BY webhooks_disabled
                    WHERE w.is_active = 0 AND w.deleted_at IS NULL AND w.disabled_by IN ('failures', 'gone')
                      AND COALESCE(w.next_recovery_probe_at, w.disabled_at + ?2) <= ?1
                    LIMIT 1000
                    """,
                arguments: [now.milliseconds, intervalMs]
            )
            var probes: [RecoveryProbe] = []
            for row in due {
                let webhookID: String = row["id"]
                let workspaceID: String = row["workspace_id"]
                let eventID = Identifier.makeOrdered(Identifier.event, at: now)
                var data = JSONObjectWriter()
                data.add("webhook_id", webhookID)
                data.add(
                    "message",
                    "This is a recovery probe from qr3.app: the webhook is disabled; a 2xx answer enables it again.")
                let payload = OutboxValidator.payload(
                    id: eventID, type: .webhookPing, created: now, canonicalData: Array(data.json.utf8))
                try db.execute(
                    sql: """
                        INSERT INTO events (id, workspace_id, type, payload, created_at, dispatched_at)
                        VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                        """,
                    arguments: [eventID, workspaceID, EventType.webhookPing.rawValue, Data(payload), now.milliseconds]
                )
                try db.execute(
                    sql: """
                        INSERT INTO jobs (event_id, webhook_id, state, probe, available_at, created_at, updated_at)
                        VALUES (?1, ?2, 'pending', 1, ?3, ?3, ?3)
                        """,
                    arguments: [eventID, webhookID, now.milliseconds]
                )
                try db.execute(
                    sql: "UPDATE webhooks SET next_recovery_probe_at = ?2 WHERE id = ?1",
                    arguments: [webhookID, now.milliseconds + intervalMs]
                )
                probes.append(RecoveryProbe(webhookID: webhookID, workspaceID: workspaceID, eventID: eventID))
            }
            return probes
        }
    }
}
