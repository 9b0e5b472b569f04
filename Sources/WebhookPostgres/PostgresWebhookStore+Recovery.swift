import WebhookCore
import WebhookStorage

extension PostgresWebhookStore {
    /// Events looked at per recovery transaction, so that a recovery of months of events never
    /// makes one long transaction.
    static let recoveryBatch = 500

    /// Makes one job due now again, as SQLite does; the webhook is read under a share lock, so it
    /// cannot be disabled on another host between the check and the retry.
    public func retryJob(webhookID: String, eventID: String, workspaceID: String?, now: Timestamp) async throws
        -> Bool
    {
        try await write { connection in
            // A disabled webhook is sent nothing: its jobs stay held until it is enabled.
            guard
                let webhook = try Self.fetchWebhook(
                    connection, id: webhookID, workspaceID: workspaceID, locking: .share),
                webhook.isActive
            else { return false }
            let changed = try connection.query(
                """
                UPDATE jobs SET state = 'pending', available_at = $3, updated_at = $3
                WHERE webhook_id = $1 AND event_id = $2 AND lease_owner IS NULL
                  AND state IN ('pending', 'delivered', 'failed', 'paused')
                """,
                [.text(webhookID), .text(eventID), .time(now)]
            ).affected
            if changed == 1 {
                try Self.notifyDaemons(connection)
                return true
            }
            // Already in flight: it is being sent right now, which is what was asked.
            return try connection.query(
                "SELECT 1 FROM jobs WHERE webhook_id = $1 AND event_id = $2 AND lease_owner IS NOT NULL",
                [.text(webhookID), .text(eventID)]
            ).count > 0
        }
    }

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
            let (batch, last) = try await write { [after] connection in
                try Self.recoverBatch(connection, webhook: webhook, request: request, after: after)
            }
            report.failed += batch.failed
            report.neverMade += batch.neverMade
            report.held = batch.held
            guard let last else { break }
            after = last
            await Task.yield()
        }
        return report
    }

    /// Recovers the events after `after` (exclusive, in (created_at, id) order), up to a batch;
    /// returns what it queued and where the next batch starts (nil at the end of the window).
    ///
    /// Where SQLite's single writer kept the batch whole, here locks do: the webhook is read under
    /// a share lock (it is enabled or disabled on another host before or after the batch, never
    /// during it) and the events are locked too, so retention cannot remove one it queues a job
    /// for. The counts are the rows changed, so two recoveries at once count each job once.
    private static func recoverBatch(
        _ connection: PostgresConnection, webhook: Webhook, request: RecoveryRequest,
        after: (createdAt: Int64, id: String)
    ) throws -> (RecoveryReport, (createdAt: Int64, id: String)?) {
        var report = RecoveryReport()
        let state = try connection.query(
            "SELECT is_active FROM webhooks WHERE id = $1 AND deleted_at IS NULL FOR SHARE", [.text(webhook.id)])
        // Deleted meanwhile: nothing more to queue.
        guard state.count == 1 else { return (report, nil) }
        let active = state.int64(0, 0) != 0
        report.held = !active
        let rows = try connection.query(
            """
            SELECT e.id, e.type, e.created_at, e.dispatched_at, j.id, j.state
            FROM events e
            LEFT JOIN jobs j ON j.event_id = e.id AND j.webhook_id = $2
            WHERE e.workspace_id = $1 AND e.created_at < $4
              AND (e.created_at > $3 OR (e.created_at = $3 AND e.id > $5))
            ORDER BY e.created_at, e.id LIMIT $6
            FOR SHARE OF e
            """,
            [
                .text(webhook.workspaceID), .text(webhook.id), .int(after.createdAt), .time(request.until),
                .text(after.id), .int(Int64(recoveryBatch)),
            ])
        var failedJobs: [Int64] = []
        var missing: [String] = []
        for row in 0..<rows.count {
            if let jobID = rows.optionalInt64(row, 4) {
                if rows.string(row, 5) == DeliveryRules.JobState.failed.rawValue { failedJobs.append(jobID) }
                continue
            }
            // Never made: an event the webhook subscribes to (pings go only where they were
            // sent), taken in while the webhook existed.
            guard let type = EventType(rawValue: rows.string(row, 1)), type != .webhookPing,
                webhook.events.matches(type), rows.int64(row, 3) >= webhook.createdAt.milliseconds
            else { continue }
            missing.append(rows.string(row, 0))
        }
        let next: (createdAt: Int64, id: String)? =
            rows.count < recoveryBatch ? nil : (rows.int64(rows.count - 1, 2), rows.string(rows.count - 1, 0))
        guard !request.dryRun else {
            report.failed = failedJobs.count
            report.neverMade = missing.count
            return (report, next)
        }
        let newState = DeliveryRules.newJobState(webhookActive: active).rawValue
        // A fresh run of attempts: the schedule starts again at the job's attempts so far.
        if !failedJobs.isEmpty {
            report.failed = try connection.query(
                """
                UPDATE jobs SET state = $2, attempt_base = attempts, available_at = $3, updated_at = $3
                WHERE id = ANY($1::bigint[]) AND state = 'failed'
                """,
                [.ints(failedJobs), .text(newState), .time(request.now)]
            ).affected
        }
        if !missing.isEmpty {
            report.neverMade = try connection.query(
                """
                INSERT INTO jobs (event_id, webhook_id, state, available_at, created_at, updated_at)
                SELECT event_id, $2, $3, $4, $4, $4 FROM unnest($1::text[]) AS event_id
                ON CONFLICT (event_id, webhook_id) DO NOTHING
                """,
                [.texts(missing), .text(webhook.id), .text(newState), .time(request.now)]
            ).affected
        }
        if active && report.total > 0 { try notifyDaemons(connection) }
        return (report, next)
    }

    /// Queues recovery probes as SQLite does. The webhooks due are locked and those another host
    /// is probing right now skipped, so two daemons never probe one webhook twice in an interval.
    public func queueRecoveryProbes(interval: Duration, now: Timestamp) async throws -> [RecoveryProbe] {
        let intervalMs = interval.inMilliseconds
        return try await write { connection in
            // Webhooks disabled by failures or a 410 at least an interval ago and not probed within
            // the interval: one probe per interval at most, across every process.
            let due = try connection.query(
                """
                SELECT id, workspace_id FROM webhooks
                WHERE is_active = 0 AND deleted_at IS NULL AND disabled_by IN ('failures', 'gone')
                  AND COALESCE(next_recovery_probe_at, disabled_at + $2::bigint) <= $1::bigint
                ORDER BY id LIMIT 1000
                FOR NO KEY UPDATE SKIP LOCKED
                """,
                [.time(now), .int(intervalMs)])
            var probes: [RecoveryProbe] = []
            for row in 0..<due.count {
                let webhookID = due.string(row, 0)
                let workspaceID = due.string(row, 1)
                let eventID = Identifier.makeOrdered(Identifier.event, at: now)
                var data = JSONObjectWriter()
                data.add("webhook_id", webhookID)
                data.add(
                    "message",
                    "This is a recovery probe from qr3.app: the webhook is disabled; a 2xx answer enables it again.")
                let payload = OutboxValidator.payload(
                    id: eventID, type: .webhookPing, created: now, canonicalData: Array(data.json.utf8))
                try connection.query(
                    """
                    INSERT INTO events (id, workspace_id, type, payload, created_at, dispatched_at)
                    VALUES ($1, $2, $3, $4, $5, $5)
                    """,
                    [
                        .text(eventID), .text(workspaceID), .text(EventType.webhookPing.rawValue),
                        .text(String(decoding: payload, as: UTF8.self)), .time(now),
                    ])
                try connection.query(
                    """
                    INSERT INTO jobs (event_id, webhook_id, state, probe, available_at, created_at, updated_at)
                    VALUES ($1, $2, 'pending', 1, $3, $3, $3)
                    """,
                    [.text(eventID), .text(webhookID), .time(now)])
                try connection.query(
                    "UPDATE webhooks SET next_recovery_probe_at = $2 WHERE id = $1",
                    [.text(webhookID), .int(now.milliseconds + intervalMs)])
                probes.append(RecoveryProbe(webhookID: webhookID, workspaceID: workspaceID, eventID: eventID))
            }
            if !probes.isEmpty { try Self.notifyDaemons(connection) }
            return probes
        }
    }
}
