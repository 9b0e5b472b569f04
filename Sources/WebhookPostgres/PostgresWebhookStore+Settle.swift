import WebhookCore
import WebhookStorage

extension PostgresWebhookStore {
    /// Jobs one settling transaction changes at most.
    static let settleBatch = 1000

    /// Brings up to a batch of webhook `id`'s jobs in line with its state: held ones released
    /// (enabled), queued ones held (disabled), both cancelled (deleted). Marks the webhook done, or
    /// still to settle when more remain. Returns true when none remains.
    ///
    /// On PostgreSQL the webhook row is locked first, so its state cannot change on another host
    /// while its jobs are settled; a job claimed meanwhile (its lease taken) is left to its claim.
    @discardableResult
    static func settleJobs(_ connection: PostgresConnection, webhookID: String, now: Timestamp) throws -> Bool {
        let row = try connection.query(
            "SELECT is_active, deleted_at IS NOT NULL FROM webhooks WHERE id = $1 FOR NO KEY UPDATE",
            [.text(webhookID)])
        guard row.count == 1 else { return true }
        let (active, deleted) = (row.int64(0, 0) != 0, row.bool(0, 1))
        var changed = 0
        if deleted || !active {
            // Queued jobs (not in flight, not a recovery probe of a disabled webhook): held, or
            // cancelled with their webhook. The conditions are repeated outside the subquery so a
            // job claimed while this waited for its lock is read again and left alone. The batch is
            // picked once (`= ANY (ARRAY(...))`, an init plan): an `IN (...)` subquery may be run
            // again per row, and its lock skips the rows this statement already changed, so it
            // would go on past the batch.
            changed += try connection.query(
                """
                UPDATE jobs SET state = $3, updated_at = $2
                WHERE id = ANY (ARRAY(
                    SELECT id FROM jobs
                    WHERE state = 'pending' AND lease_owner IS NULL AND webhook_id = $1 AND (probe = 0 OR $4)
                    ORDER BY id LIMIT $5 FOR UPDATE))
                  AND state = 'pending' AND lease_owner IS NULL
                """,
                [
                    .text(webhookID), .time(now), .text(deleted ? "cancelled" : "paused"), .bool(deleted),
                    .int(Int64(settleBatch)),
                ]
            ).affected
        }
        if deleted || active {
            // Held jobs: due now, oldest first, when enabled; cancelled when deleted.
            changed += try connection.query(
                """
                UPDATE jobs SET state = $3, available_at = $2, updated_at = $2
                WHERE id = ANY (ARRAY(
                    SELECT id FROM jobs WHERE webhook_id = $1 AND state = 'paused' ORDER BY id LIMIT $4 FOR UPDATE))
                  AND state = 'paused'
                """,
                [.text(webhookID), .time(now), .text(deleted ? "cancelled" : "pending"), .int(Int64(settleBatch))]
            ).affected
        }
        let done = changed < settleBatch
        try connection.query(
            "UPDATE webhooks SET jobs_to_settle = $2::smallint WHERE id = $1 AND jobs_to_settle <> $2::smallint",
            [.text(webhookID), .int(done ? 0 : 1)])
        return done
    }

    /// Settles the jobs of webhooks whose change left more than a batch to do, a batch per
    /// transaction. Returns how many batches ran. An idle daemon only reads.
    @discardableResult
    public func settleWebhookJobs(batches limit: Int = 20) async throws -> Int {
        let pending = try await read { connection in
            let rows = try connection.query("SELECT id FROM webhooks WHERE jobs_to_settle = 1 ORDER BY id")
            return (0..<rows.count).map { rows.string($0, 0) }
        }
        var batches = 0
        for webhookID in pending {
            while batches < limit {
                batches += 1
                let done = try await write { connection in
                    let done = try Self.settleJobs(connection, webhookID: webhookID, now: .now())
                    // Held jobs released by this batch are due now.
                    try Self.notifyDaemons(connection)
                    return done
                }
                if done { break }
                await Task.yield()
            }
        }
        return batches
    }
}
