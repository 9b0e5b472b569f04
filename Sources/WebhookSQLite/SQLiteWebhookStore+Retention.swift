import Foundation
import GRDB
import WebhookCore
import WebhookStorage

extension SQLiteWebhookStore {
    /// Rows one retention transaction looks at, at most: a few milliseconds of the write lock.
    static let pruneBatch = 500

    public func prune(_ request: PruneRequest) async throws -> PruneReport {
        if request.dryRun { return try await countPrunable(request) }
        var report = PruneReport()
        // The attempts first, by their time-ordered ids: a contiguous range of the table.
        let attemptBound = Identifier.orderedLowerBound(Identifier.delivery, at: request.cutoff)
        while true {
            let removed = try await write { db in try Self.pruneAttempts(db, before: attemptBound) }
            report.attempts += removed
            if removed < Self.pruneBatch { break }
            await Task.yield()
        }
        // Finished jobs, then held ones past their own retention, walking the jobs in id order
        // (creation order): the walk ends at the first job made after the cutoff.
        var after: Int64? = 0
        while let position = after {
            let batch = try await write { db in try Self.pruneJobs(db, after: position, request: request) }
            report.jobs += batch.removed
            report.heldJobs += batch.held
            after = batch.next
            await Task.yield()
        }
        // Events no job needs any more, oldest first.
        var afterEvent: Int64? = 0
        while let position = afterEvent {
            let batch = try await write { db in try Self.pruneEvents(db, after: position, before: request.cutoff) }
            report.events += batch.removed
            afterEvent = batch.next
            await Task.yield()
        }
        while true {
            let removed = try await write { db in
                try db.execute(
                    sql: """
                        DELETE FROM rejected_events WHERE seq IN (
                            SELECT seq FROM rejected_events WHERE rejected_at < ? ORDER BY seq LIMIT ?)
                        """,
                    arguments: [request.cutoff.milliseconds, Self.pruneBatch]
                )
                return db.changesCount
            }
            report.rejectedRows += removed
            if removed < Self.pruneBatch { break }
            await Task.yield()
        }
        return report
    }

    /// Removes up to a batch of attempts older than `bound` and their places in the log.
    private static func pruneAttempts(_ db: Database, before bound: String) throws -> Int {
        let rows = try Row.fetchAll(
            db, sql: "SELECT id, webhook_id FROM attempts WHERE id < ? ORDER BY id LIMIT ?",
            arguments: [bound, pruneBatch])
        guard !rows.isEmpty else { return 0 }
        let unlog = try db.cachedStatement(sql: "DELETE FROM attempt_log WHERE webhook_id = ? AND id = ?")
        for row in rows {
            try unlog.execute(arguments: [row["webhook_id"] as String, row["id"] as String])
        }
        try db.execute(
            sql: "DELETE FROM attempts WHERE id < ? AND id <= ?",
            arguments: [bound, rows.last.map { $0["id"] as String } ?? bound])
        return rows.count
    }

    /// Looks at up to a batch of jobs after id `after`, removing the finished ones last changed
    /// before the cutoff and the held ones before the held cutoff. Ids follow creation, so the walk
    /// ends (`next` nil) at the first job made after both cutoffs, or at the end of the table.
    private static func pruneJobs(_ db: Database, after: Int64, request: PruneRequest) throws
        -> (removed: Int, held: Int, next: Int64?)
    {
        let newest = max(request.cutoff.milliseconds, request.heldCutoff.milliseconds)
        let rows = try Row.fetchAll(
            db, sql: "SELECT id, state, created_at, updated_at FROM jobs WHERE id > ? ORDER BY id LIMIT ?",
            arguments: [after, pruneBatch])
        var doomed: [Int64] = []
        var held = 0
        var next: Int64? = rows.count == pruneBatch ? rows.last?["id"] : nil
        for row in rows {
            guard (row["created_at"] as Int64) < newest else {
                next = nil
                break
            }
            let updated: Int64 = row["updated_at"]
            switch DeliveryRules.JobState(rawValue: row["state"]) {
            case .delivered, .failed, .cancelled:
                if updated < request.cutoff.milliseconds { doomed.append(row["id"]) }
            case .held:
                if updated < request.heldCutoff.milliseconds {
                    doomed.append(row["id"])
                    held += 1
                }
            case .pending, nil:
                continue
            }
        }
        if !doomed.isEmpty {
            try db.execute(
                sql: "DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?))",
                arguments: [JSONDecoderLite.encode(doomed)])
        }
        return (doomed.count - held, held, next)
    }

    /// Looks at up to a batch of events after rowid `after`, removing those taken in before
    /// `cutoff` that no job needs; the walk ends (`next` nil) at the first newer one.
    private static func pruneEvents(_ db: Database, after: Int64, before cutoff: Timestamp) throws
        -> (removed: Int, next: Int64?)
    {
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT e.rowid AS rowid, e.dispatched_at,
                    e.fanout_after IS NULL AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.event_id = e.id) AS unused
                FROM events e WHERE e.rowid > ? ORDER BY e.rowid LIMIT ?
                """,
            arguments: [after, pruneBatch]
        )
        var unused: [Int64] = []
        var next: Int64? = rows.count == pruneBatch ? rows.last?["rowid"] : nil
        for row in rows {
            guard (row["dispatched_at"] as Int64) < cutoff.milliseconds else {
                next = nil
                break
            }
            if row["unused"] as Bool { unused.append(row["rowid"]) }
        }
        if !unused.isEmpty {
            try db.execute(
                sql: "DELETE FROM events WHERE rowid IN (SELECT value FROM json_each(?))",
                arguments: [JSONDecoderLite.encode(unused)])
        }
        return (unused.count, next)
    }

    /// What a prune would remove, counted without removing anything.
    private func countPrunable(_ request: PruneRequest) async throws -> PruneReport {
        try await read { db in
            var report = PruneReport()
            report.attempts =
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM attempts WHERE id < ?",
                    arguments: [Identifier.orderedLowerBound(Identifier.delivery, at: request.cutoff)]) ?? 0
            report.jobs =
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT COUNT(*) FROM jobs
                        WHERE (state = 'delivered' OR state = 'failed' OR state = 'cancelled') AND updated_at < ?
                        """,
                    arguments: [request.cutoff.milliseconds]) ?? 0
            report.heldJobs =
                try Int.fetchOne(
                    db,
                    sql: "SELECT COUNT(*) FROM jobs INDEXED BY jobs_paused WHERE state = 'paused' AND updated_at < ?",
                    arguments: [request.heldCutoff.milliseconds]) ?? 0
            // Events whose every job would go.
            report.events =
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT COUNT(*) FROM events e WHERE e.dispatched_at < ?1 AND e.fanout_after IS NULL
                          AND NOT EXISTS (
                              SELECT 1 FROM jobs j WHERE j.event_id = e.id
                                AND NOT ((j.state = 'delivered' OR j.state = 'failed' OR j.state = 'cancelled')
                                         AND j.updated_at < ?1)
                                AND NOT (j.state = 'paused' AND j.updated_at < ?2))
                        """,
                    arguments: [request.cutoff.milliseconds, request.heldCutoff.milliseconds]) ?? 0
            report.rejectedRows =
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM rejected_events WHERE rejected_at < ?",
                    arguments: [request.cutoff.milliseconds]) ?? 0
            return report
        }
    }
}
