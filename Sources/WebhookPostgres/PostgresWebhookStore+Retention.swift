import WebhookCore
import WebhookStorage

extension PostgresWebhookStore {
    /// Rows one retention transaction looks at, at most: a few milliseconds each.
    static let pruneBatch = 500

    /// Removes what retention no longer keeps, in small transactions, as SQLite does.
    ///
    /// What differs: events are walked by `(dispatched_at, workspace_id, id)` (index
    /// `events_by_arrival`; PostgreSQL has no rowid), and every delete states its conditions again
    /// so a row another host changed meanwhile (a job retried, an event recovered) is kept. Freed
    /// space is reused once autovacuum has seen it.
    public func prune(_ request: PruneRequest) async throws -> PruneReport {
        if request.dryRun { return try await countPrunable(request) }
        var report = PruneReport()
        // The attempts first, by their time-ordered ids: a contiguous range of the table.
        let attemptBound = Identifier.orderedLowerBound(Identifier.delivery, at: request.cutoff)
        while true {
            let removed = try await write { connection in
                try connection.query(
                    "DELETE FROM attempts WHERE id = ANY (ARRAY(SELECT id FROM attempts WHERE id < $1 ORDER BY id LIMIT $2))",
                    [.text(attemptBound), .int(Int64(Self.pruneBatch))]
                ).affected
            }
            report.attempts += removed
            if removed < Self.pruneBatch { break }
            await Task.yield()
        }
        // Finished jobs, then held ones past their own retention, walking the jobs in id order
        // (creation order): the walk ends at the first job made after the cutoff.
        var after: Int64? = 0
        while let position = after {
            let batch = try await write { connection in
                try Self.pruneJobs(connection, after: position, request: request)
            }
            report.jobs += batch.removed
            report.heldJobs += batch.held
            after = batch.next
            await Task.yield()
        }
        // Events no job needs any more, oldest first.
        var afterEvent: EventKey? = EventKey(dispatchedAt: .min, workspaceID: "", id: "")
        while let position = afterEvent {
            let batch = try await write { connection in
                try Self.pruneEvents(connection, after: position, before: request.cutoff)
            }
            report.events += batch.removed
            afterEvent = batch.next
            await Task.yield()
        }
        while true {
            let removed = try await write { connection in
                try connection.query(
                    """
                    DELETE FROM rejected_events WHERE seq = ANY (ARRAY(
                        SELECT seq FROM rejected_events WHERE rejected_at < $1 ORDER BY seq LIMIT $2))
                    """,
                    [.time(request.cutoff), .int(Int64(Self.pruneBatch))]
                ).affected
            }
            report.rejectedRows += removed
            if removed < Self.pruneBatch { break }
            await Task.yield()
        }
        return report
    }

    /// Looks at up to a batch of jobs after id `after`, removing the finished ones last changed
    /// before the cutoff and the held ones before the held cutoff. Ids follow creation, so the walk
    /// ends (`next` nil) at the first job made after both cutoffs, or at the end of the table.
    private static func pruneJobs(_ connection: PostgresConnection, after: Int64, request: PruneRequest) throws
        -> (removed: Int, held: Int, next: Int64?)
    {
        let newest = max(request.cutoff.milliseconds, request.heldCutoff.milliseconds)
        let rows = try connection.query(
            "SELECT id, state, created_at, updated_at FROM jobs WHERE id > $1 ORDER BY id LIMIT $2",
            [.int(after), .int(Int64(pruneBatch))])
        var doomed: [Int64] = []
        var next: Int64? = rows.count == pruneBatch ? rows.int64(rows.count - 1, 0) : nil
        for row in 0..<rows.count {
            guard rows.int64(row, 2) < newest else {
                next = nil
                break
            }
            let updated = rows.int64(row, 3)
            switch DeliveryRules.JobState(rawValue: rows.string(row, 1)) {
            case .delivered, .failed, .cancelled:
                if updated < request.cutoff.milliseconds { doomed.append(rows.int64(row, 0)) }
            case .held:
                if updated < request.heldCutoff.milliseconds { doomed.append(rows.int64(row, 0)) }
            case .pending, nil:
                continue
            }
        }
        guard !doomed.isEmpty else { return (0, 0, next) }
        // The conditions again: a job retried or released on another host since the read stays.
        let deleted = try connection.query(
            """
            DELETE FROM jobs WHERE id = ANY($1::bigint[])
              AND ((state IN ('delivered', 'failed', 'cancelled') AND updated_at < $2)
                   OR (state = 'paused' AND updated_at < $3))
            RETURNING state = 'paused'
            """,
            [.ints(doomed), .time(request.cutoff), .time(request.heldCutoff)])
        let held = (0..<deleted.count).filter { deleted.bool($0, 0) }.count
        return (deleted.count - held, held, next)
    }

    /// An event's place in the walk of ``pruneEvents(_:after:before:)``.
    struct EventKey: Sendable {
        var dispatchedAt: Int64
        var workspaceID: String
        var id: String
    }

    /// Looks at up to a batch of events taken in before `cutoff`, after `after`, removing those no
    /// job needs; `next` is nil once the batch was the last.
    ///
    /// The events are locked before their jobs are counted (in a statement of its own, which sees
    /// what committed meanwhile): a recovery queueing a job for one of them on another host either
    /// finished first, and its job keeps the event, or waits and then finds it gone.
    private static func pruneEvents(_ connection: PostgresConnection, after: EventKey, before cutoff: Timestamp) throws
        -> (removed: Int, next: EventKey?)
    {
        let rows = try connection.query(
            """
            SELECT dispatched_at, workspace_id, id FROM events
            WHERE dispatched_at < $1 AND (dispatched_at, workspace_id, id) > ($2::bigint, $3::text, $4::text)
            ORDER BY dispatched_at, workspace_id, id LIMIT $5
            FOR UPDATE
            """,
            [
                .time(cutoff), .int(after.dispatchedAt), .text(after.workspaceID), .text(after.id),
                .int(Int64(pruneBatch)),
            ])
        guard rows.count > 0 else { return (0, nil) }
        let last = rows.count - 1
        let next =
            rows.count < pruneBatch
            ? nil
            : EventKey(dispatchedAt: rows.int64(last, 0), workspaceID: rows.string(last, 1), id: rows.string(last, 2))
        let removed = try connection.query(
            """
            DELETE FROM events e
            WHERE (e.workspace_id, e.id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
              AND e.fanout_after IS NULL AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.event_id = e.id)
            """,
            [
                .texts((0..<rows.count).map { rows.string($0, 1) }),
                .texts((0..<rows.count).map { rows.string($0, 2) }),
            ]
        ).affected
        return (removed, next)
    }

    /// What a prune would remove, counted without removing anything.
    private func countPrunable(_ request: PruneRequest) async throws -> PruneReport {
        try await read { connection in
            var report = PruneReport()
            report.attempts = try connection.query(
                "SELECT COUNT(*) FROM attempts WHERE id < $1",
                [.text(Identifier.orderedLowerBound(Identifier.delivery, at: request.cutoff))]
            ).int(0, 0)
            report.jobs = try connection.query(
                """
                SELECT COUNT(*) FROM jobs
                WHERE (state = 'delivered' OR state = 'failed' OR state = 'cancelled') AND updated_at < $1
                """,
                [.time(request.cutoff)]
            ).int(0, 0)
            report.heldJobs = try connection.query(
                "SELECT COUNT(*) FROM jobs WHERE state = 'paused' AND updated_at < $1", [.time(request.heldCutoff)]
            ).int(0, 0)
            // Events whose every job would go.
            report.events = try connection.query(
                """
                SELECT COUNT(*) FROM events e WHERE e.dispatched_at < $1 AND e.fanout_after IS NULL
                  AND NOT EXISTS (
                      SELECT 1 FROM jobs j WHERE j.event_id = e.id
                        AND NOT ((j.state = 'delivered' OR j.state = 'failed' OR j.state = 'cancelled')
                                 AND j.updated_at < $1)
                        AND NOT (j.state = 'paused' AND j.updated_at < $2))
                """,
                [.time(request.cutoff), .time(request.heldCutoff)]
            ).int(0, 0)
            report.rejectedRows = try connection.query(
                "SELECT COUNT(*) FROM rejected_events WHERE rejected_at < $1", [.time(request.cutoff)]
            ).int(0, 0)
            return report
        }
    }

    /// Housekeeping the daemon runs a few times a second: settles the jobs of webhooks whose
    /// change left more than a batch to do, a batch per transaction. Nothing else: PostgreSQL has
    /// no log to file or checkpoint to run (autovacuum and the server's checkpointer do that).
    public func maintain() async throws {
        try await settleWebhookJobs()
        try await analyzeIfGrown()
    }

    /// Refreshes the planner's statistics of the queue tables once they changed by a tenth, every
    /// few seconds at most. Autovacuum does it too, but only after a while: a backlog that grew
    /// from nothing to a million jobs a moment ago would meanwhile be planned as an empty table
    /// (a claim's lookup of its events as a scan of the workspace's, which made rounds four
    /// times slower in `RoundBenchmark`). `ANALYZE` reads a sample and blocks no writer.
    func analyzeIfGrown() async throws {
        let due = analyzedAt.withLock { last in
            guard last.map({ ContinuousClock.now - $0 >= .seconds(5) }) ?? true else { return false }
            last = .now
            return true
        }
        guard due else { return }
        try await database.withConnection { connection in
            let grown = try connection.query(
                """
                SELECT relname FROM pg_stat_user_tables
                WHERE relname IN ('jobs', 'events', 'attempts') AND n_mod_since_analyze > greatest(1000, n_live_tup / 10)
                """)
            let tables = (0..<grown.count).map { grown.string($0, 0) }
            guard !tables.isEmpty else { return }
            try connection.execute("ANALYZE \(tables.joined(separator: ", "))")
        }
    }
}
