import GRDB
import WebhookCore
import WebhookStorage

extension SQLiteWebhookStore {
    /// Jobs one settling transaction changes at most.
    static let settleBatch = 1000

    /// Brings up to a batch of webhook `id`'s jobs in line with its state: held ones released
    /// (enabled), queued ones held (disabled), both cancelled (deleted). Marks the webhook done, or
    /// still to settle when more remain. Returns true when none remains.
    @discardableResult
    static func settleJobs(_ db: Database, webhookID: String, now: Timestamp) throws -> Bool {
        guard
            let row = try Row.fetchOne(
                db, sql: "SELECT is_active, deleted_at IS NOT NULL AS deleted FROM webhooks WHERE id = ?",
                arguments: [webhookID])
        else { return true }
        let (active, deleted): (Bool, Bool) = (row["is_active"], row["deleted"])
        var changed = 0
        if deleted || !active {
            // Queued jobs (not in flight, not a recovery probe of a disabled webhook): held, or
            // cancelled with their webhook.
            try db.execute(
                sql: """
                    UPDATE jobs SET state = ?3, updated_at = ?2 WHERE id IN (
                        SELECT id FROM jobs INDEXED BY jobs_due
                        WHERE state = 'pending' AND lease_owner IS NULL AND webhook_id = ?1 AND (probe = 0 OR ?4)
                        LIMIT ?5)
                    """,
                arguments: [webhookID, now.milliseconds, deleted ? "cancelled" : "paused", deleted, settleBatch])
            changed += db.changesCount
        }
        if deleted || active {
            // Held jobs: due now, oldest first, when enabled; cancelled when deleted.
            try db.execute(
                sql: """
                    UPDATE jobs SET state = ?3, available_at = ?2, updated_at = ?2 WHERE id IN (
                        SELECT id FROM jobs INDEXED BY jobs_paused WHERE webhook_id = ?1 AND state = 'paused'
                        ORDER BY id LIMIT ?4)
                    """,
                arguments: [webhookID, now.milliseconds, deleted ? "cancelled" : "pending", settleBatch])
            changed += db.changesCount
        }
        let done = changed < settleBatch
        try db.execute(
            sql: "UPDATE webhooks SET jobs_to_settle = ?2 WHERE id = ?1 AND jobs_to_settle <> ?2",
            arguments: [webhookID, done ? 0 : 1])
        return done
    }

    /// Settles the jobs of webhooks whose change left more than a batch to do, a batch per
    /// transaction. Returns how many batches ran. An idle daemon only reads.
    @discardableResult
    public func settleWebhookJobs(batches limit: Int = 20) async throws -> Int {
        let pending = try await read { db in
            try String.fetchAll(
                db, sql: "SELECT id FROM webhooks INDEXED BY webhooks_settling WHERE jobs_to_settle = 1")
        }
        var batches = 0
        for webhookID in pending {
            while batches < limit {
                batches += 1
                let done = try await write { db in try Self.settleJobs(db, webhookID: webhookID, now: .now()) }
                if done { break }
                await Task.yield()
            }
        }
        return batches
    }
}
