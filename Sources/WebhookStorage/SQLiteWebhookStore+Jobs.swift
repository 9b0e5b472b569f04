import Foundation
import GRDB
import WebhookCore

extension SQLiteWebhookStore {
    public func claim(owner: String, limit: Int, perWebhookLimit: Int, lease: Duration, now: Timestamp) async throws
        -> [ClaimedJob]
    {
        let request = ClaimRequest(owner: owner, limit: limit, perWebhookLimit: perWebhookLimit, lease: lease, now: now)
        guard limit > 0 else { return [] }
        return try await write { db in try self.claimCursor.withLock { try Self.claim(db, request, cursor: &$0) } }
    }

    public func advance(_ round: DeliveryRound) async throws -> DeliveryRound.Report {
        var round = round
        if let ingest = round.ingest {
            round.ingest?.validator = try await withEventIDKey(ingest.validator)
        }
        return try await write { [round] db in
            var report = DeliveryRound.Report()
            report.recorded = try Self.record(
                db, round.results, policy: round.policy, disableAfter: round.disableAfter
            )
            if let ingest = round.ingest {
                report.ingested = try Self.ingest(db, limit: ingest.limit, validator: ingest.validator, now: ingest.now)
            }
            if let claim = round.claim {
                report.claimed = try self.claimCursor.withLock { try Self.claim(db, claim, cursor: &$0) }
            }
            return report
        }
    }

    static func claim(_ db: Database, _ request: ClaimRequest, cursor: inout ClaimCursor?) throws -> [ClaimedJob] {
        let (owner, limit, perWebhookLimit, now) = (request.owner, request.limit, request.perWebhookLimit, request.now)
        guard limit > 0 else { return [] }
        let leaseMs =
            request.lease.components.seconds * 1000
            + request.lease.components.attoseconds / 1_000_000_000_000_000
        let expiry = now.milliseconds + leaseMs
        do {
            // Live claims per webhook, of every owner: a webhook at its cap is skipped, so one
            // slow endpoint cannot take every slot or hide the jobs queued behind its own.
            var busy: [String: Int] = [:]
            try db.cachedStatement(
                sql: """
                    SELECT webhook_id, COUNT(*) AS n FROM jobs INDEXED BY jobs_leased
                    WHERE lease_owner IS NOT NULL AND lease_expires_at > ? GROUP BY webhook_id
                    """
            ).forEachRawRow {
                $0.bind(now.milliseconds)
            } _: { row in
                busy[row.string(0)] = Int(row.int64(1))
                return true
            }
            // A failing webhook (its last attempt failed) gets one request at a time until it
            // succeeds again: a few slow or dead endpoints cannot take every slot.
            let failing = try Set(
                String.fetchAll(
                    db.cachedStatement(
                        sql: "SELECT id FROM webhooks INDEXED BY webhooks_failing WHERE consecutive_failures > 0"))
            )
            func capacity(of webhookID: String) -> Int { failing.contains(webhookID) ? 1 : perWebhookLimit }
            let saturated = Set(busy.filter { $0.value >= capacity(of: $0.key) }.map(\.key))
            // The two sources below are disjoint (the due index holds no leased job), so no job
            // is taken twice.
            var chosen: [Int64] = []
            chosen.reserveCapacity(limit)
            func take(_ id: Int64, of webhookID: String) {
                let inFlight = busy[webhookID, default: 0]
                guard inFlight < capacity(of: webhookID) else { return }
                busy[webhookID] = inFlight + 1
                chosen.append(id)
            }
            // Claims whose lease ran out unrecorded (their worker died or hung) come first, and are
            // reported as taken over. Normally none: a short range of the lease index.
            var previousOwners: [Int64: String] = [:]
            for row in try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT id, webhook_id, lease_owner FROM jobs INDEXED BY jobs_leased
                        WHERE lease_owner IS NOT NULL AND lease_expires_at <= ? ORDER BY lease_expires_at, id
                        """),
                arguments: [now.milliseconds]
            ) where chosen.count < limit {
                let id: Int64 = row[0]
                previousOwners[id] = row[2]
                take(id, of: row[1])
            }
            // Then due jobs, oldest first, skipping webhooks at their limit. With a webhook at its
            // limit, the walk starts where an earlier one found its first job of a webhook with
            // room, when that is still valid; with none, there is nothing to step over.
            let previous = saturated.isEmpty ? nil : cursor?.valid(now: now.milliseconds, saturated: saturated)
            let start = previous.map { (availableAt: $0.availableAt, id: $0.id) }
            let saturatedList = JSONDecoderLite.encode(Array(saturated))
            // Two ranges of the index, because SQLite uses only the first column of a row-value
            // bound: the rest of the start's millisecond, then everything after it.
            func walk(_ range: String) -> String {
                """
                SELECT id, webhook_id, available_at FROM jobs INDEXED BY jobs_due
                WHERE state = 'pending' AND lease_owner IS NULL AND \(range)
                  AND webhook_id NOT IN (SELECT value FROM json_each(?3))
                ORDER BY available_at, id
                """
            }
            let ranges: [(sql: String, bounds: (Int64, Int64))] = [
                (walk("available_at = ?1 AND id >= ?2"), (start?.availableAt ?? Int64.min, start?.id ?? Int64.min)),
                (walk("available_at > ?1 AND available_at <= ?2"), (start?.availableAt ?? Int64.min, now.milliseconds)),
            ]
            // Rows of webhooks that fill up during this claim are stepped over too; the walk
            // stops after this many.
            let walkLimit = limit * 4
            var first: (availableAt: Int64, id: Int64)?
            var walked = 0
            for range in ranges where chosen.count < limit && walked < walkLimit {
                try db.cachedStatement(sql: range.sql).forEachRawRow { values in
                    values.bind(range.bounds.0)
                    values.bind(range.bounds.1)
                    values.bind(saturatedList)
                } _: { row in
                    let id = row.int64(0)
                    if first == nil { first = (row.int64(2), id) }
                    walked += 1
                    take(id, of: row.string(1))
                    return chosen.count < limit && walked < walkLimit
                }
            }
            // A walk that started from a position could not see what was made due before it
            // since; so the position it passes on keeps the age of the walk that started over.
            cursor =
                saturated.isEmpty
                ? nil
                : ClaimCursor(
                    availableAt: first?.availableAt ?? now.milliseconds,
                    id: first?.id ?? Int64.min,
                    saturated: saturated,
                    madeAt: previous?.madeAt ?? now.milliseconds
                )
            guard !chosen.isEmpty else { return [] }
            let ids = "[" + chosen.map(String.init).joined(separator: ",") + "]"
            try db.cachedStatement(
                sql: """
                    UPDATE jobs SET lease_owner = ?1, lease_expires_at = ?2, available_at = ?2,
                        lease_token = lease_token + 1, updated_at = ?3
                    WHERE id IN (SELECT value FROM json_each(?4)) AND state = 'pending'
                    """
            ).execute(arguments: [owner, expiry, now.milliseconds, ids])
            var claimed: [ClaimedJob] = []
            claimed.reserveCapacity(chosen.count)
            try db.cachedStatement(
                sql: """
                    SELECT j.id, j.lease_token, j.attempts, j.webhook_id, w.url, w.secret, j.event_id,
                        e.type, e.payload, e.created_at
                    FROM jobs j JOIN webhooks w ON w.id = j.webhook_id JOIN events e ON e.id = j.event_id
                    WHERE j.id IN (SELECT value FROM json_each(?1)) AND j.lease_owner = ?2
                    """
            ).forEachRawRow { values in
                values.bind(ids)
                values.bind(owner)
            } _: { row in
                let id = row.int64(0)
                claimed.append(
                    ClaimedJob(
                        jobID: id,
                        leaseToken: row.int64(1),
                        attempt: Int(row.int64(2)) + 1,
                        webhookID: row.string(3),
                        url: row.string(4),
                        secret: row.string(5),
                        eventID: row.string(6),
                        eventType: row.string(7),
                        payload: row.bytes(8),
                        eventCreatedAt: Timestamp(milliseconds: row.int64(9)),
                        reclaimedFrom: previousOwners[id]
                    )
                )
                return true
            }
            return claimed
        }
    }

    public func record(_ results: [AttemptResult], policy: RetryPolicy, disableAfter: Int) async throws
        -> RecordReport
    {
        guard !results.isEmpty else { return RecordReport() }
        return try await write { db in try Self.record(db, results, policy: policy, disableAfter: disableAfter) }
    }

    static func record(_ db: Database, _ results: [AttemptResult], policy: RetryPolicy, disableAfter: Int) throws
        -> RecordReport
    {
        guard !results.isEmpty else { return RecordReport() }
        do {
            var report = RecordReport()
            report.deliveryIDs.reserveCapacity(results.count)
            let countSuccess = try db.cachedStatement(
                sql: "UPDATE webhooks SET consecutive_failures = 0 WHERE id = ? AND consecutive_failures <> 0"
            )
            let countFailure = try db.cachedStatement(
                sql: """
                    UPDATE webhooks SET consecutive_failures = consecutive_failures + 1 WHERE id = ?
                    RETURNING consecutive_failures, is_active
                    """
            )
            // The fencing check is part of the update: no row changes when the claim was lost.
            let finish = try db.cachedStatement(
                sql: """
                    UPDATE jobs SET state = ?2, attempts = ?3, available_at = ?4, lease_owner = NULL,
                        lease_expires_at = NULL, updated_at = ?5
                    WHERE id = ?1 AND lease_token = ?6 AND state = 'pending' AND lease_owner IS NOT NULL
                    """
            )
            let pause = try db.cachedStatement(
                sql: "UPDATE jobs SET state = 'paused' WHERE id = ? AND state = 'pending'")
            let log = try db.cachedStatement(
                sql: """
                    INSERT INTO attempts (id, job_id, webhook_id, event_id, event_type, attempt, status, status_code,
                        response_time_ms, failure_class, response_excerpt, next_retry_at, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            )
            // The delivery log's order by webhook, noted in the order recorded (see migration 6).
            let note = try db.cachedStatement(sql: "INSERT INTO attempt_log_tail (webhook_id, id) VALUES (?, ?)")
            // Most webhooks have no failures to reset: find the few that do with one query, rather
            // than an update per successful attempt.
            let webhookIDs = Set(results.lazy.filter(\.outcome.isSuccess).map(\.job.webhookID))
            var failing = Set<String>()
            if !webhookIDs.isEmpty {
                failing = try Set(
                    String.fetchAll(
                        db.cachedStatement(
                            sql: """
                                SELECT id FROM webhooks
                                WHERE id IN (SELECT value FROM json_each(?)) AND consecutive_failures <> 0
                                """),
                        arguments: [JSONDecoderLite.encode(Array(webhookIDs))]
                    )
                )
            }
            for result in results {
                let job = result.job
                let finishedAt = result.finishedAt
                let outcome = result.outcome
                let decision = policy.decide(attempt: job.attempt, outcome: outcome, now: finishedAt)
                var (state, availableAt, nextRetry): (String, Int64, Int64?) =
                    switch decision {
                    case .delivered: ("delivered", finishedAt.milliseconds, nil)
                    case .retry(let at): ("pending", at.milliseconds, at.milliseconds)
                    case .giveUp: ("failed", finishedAt.milliseconds, nil)
                    }
                let finished = try finish.executeRaw { values in
                    values.bind(job.jobID)
                    values.bind(state)
                    values.bind(job.attempt)
                    values.bind(availableAt)
                    values.bind(finishedAt.milliseconds)
                    values.bind(job.leaseToken)
                }
                guard finished == 1 else {
                    report.staleResults.append(job)
                    report.deliveryIDs.append(nil)
                    continue
                }
                if outcome.isSuccess {
                    if failing.remove(job.webhookID) != nil {
                        try countSuccess.execute(arguments: [job.webhookID])
                    }
                } else if let row = try Row.fetchOne(countFailure, arguments: [job.webhookID]) {
                    failing.insert(job.webhookID)
                    let failures: Int = row[0]
                    var active: Bool = row[1]
                    if active, failures >= disableAfter {
                        try Self.deactivate(
                            db,
                            webhookID: job.webhookID,
                            reason: "\(failures) consecutive failed attempts",
                            now: finishedAt
                        )
                        report.disabledWebhooks.append(job.webhookID)
                        active = false
                    }
                    if !active, state == "pending" {
                        // A disabled webhook's retry waits, paused, until the webhook is enabled.
                        try pause.execute(arguments: [job.jobID])
                        state = "paused"
                        nextRetry = nil
                    }
                }
                if case .giveUp = decision { report.finallyFailed.append(job) }
                let deliveryID = Identifier.makeOrdered(Identifier.delivery, at: finishedAt)
                try log.executeRaw { values in
                    values.bind(deliveryID)
                    values.bind(job.jobID)
                    values.bind(job.webhookID)
                    values.bind(job.eventID)
                    values.bind(job.eventType)
                    values.bind(job.attempt)
                    values.bind(outcome.isSuccess ? "success" : "failed")
                    values.bind(outcome.statusCode)
                    values.bind(outcome.responseTimeMs)
                    values.bind(outcome.failure?.rawValue)
                    values.bind(outcome.excerpt)
                    values.bind(nextRetry)
                    values.bind(finishedAt.milliseconds)
                }
                try note.executeRaw { values in
                    values.bind(job.webhookID)
                    values.bind(deliveryID)
                }
                report.deliveryIDs.append(deliveryID)
            }
            return report
        }
    }

    public func release(_ jobs: [ClaimedJob], now: Timestamp) async throws {
        guard !jobs.isEmpty else { return }
        try await write { db in
            let statement = try db.cachedStatement(
                sql: """
                    UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL, available_at = ?3, updated_at = ?3
                    WHERE id = ?1 AND lease_token = ?2 AND state = 'pending'
                    """
            )
            for job in jobs {
                try statement.execute(arguments: [job.jobID, job.leaseToken, now.milliseconds])
            }
        }
    }

    public func nextDueTime() async throws -> Timestamp? {
        try await read { db in
            // The first job to come due, or the first lease to run out (its job is due again then).
            let due = try Int64.fetchOne(
                db,
                sql:
                    "SELECT MIN(available_at) FROM jobs INDEXED BY jobs_due WHERE state = 'pending' AND lease_owner IS NULL"
            )
            let expiry = try Int64.fetchOne(
                db,
                sql: "SELECT MIN(lease_expires_at) FROM jobs INDEXED BY jobs_leased WHERE lease_owner IS NOT NULL"
            )
            return [due, expiry].compactMap { $0 }.min().map(Timestamp.init(milliseconds:))
        }
    }

    public func retryJob(webhookID: String, eventID: String, workspaceID: String?, now: Timestamp) async throws
        -> Bool
    {
        try await write { db in
            guard try Self.fetchWebhook(db, id: webhookID, workspaceID: workspaceID) != nil else { return false }
            try db.execute(
                sql: """
                    UPDATE jobs SET state = 'pending', available_at = ?3, updated_at = ?3
                    WHERE webhook_id = ?1 AND event_id = ?2 AND lease_owner IS NULL
                      AND state IN ('pending', 'delivered', 'failed', 'paused')
                    """,
                arguments: [webhookID, eventID, now.milliseconds]
            )
            if db.changesCount == 1 { return true }
            // Already in flight: it is being sent right now, which is what was asked.
            return try Bool.fetchOne(
                db,
                sql: "SELECT 1 FROM jobs WHERE webhook_id = ? AND event_id = ? AND lease_owner IS NOT NULL",
                arguments: [webhookID, eventID]
            ) != nil
        }
    }
}

/// Where the last claim's walk of the due index found its first job of a webhook with room.
///
/// Every due job before that position belonged to a webhook at its limit. While those webhooks
/// stay at their limit, the next walk starts there instead of stepping again over their queues:
/// one dead endpoint's backlog of thousands of jobs would otherwise be walked by every claim.
///
/// Most jobs made due later sort after the position (they are due at a later time, or at the
/// same millisecond with a larger id), but not all: another process (a CLI `enable`, the API, a
/// second daemon) may commit a job due at a time it read before the position was taken, and a
/// lease that expired is due at its expiry (those jobs are claimed separately, first). So a
/// position is trusted for at most `lifetime` milliseconds after a walk from the start of the
/// index, however many walks passed it on, then the walk starts over: a job made due behind it
/// waits a second at most. With no webhook at its limit no position is kept at all: the walk
/// starts at the oldest due job, which it takes.
struct ClaimCursor: Sendable {
    var availableAt: Int64
    var id: Int64
    /// The webhooks at their limit when the position was taken.
    var saturated: Set<String>
    /// When the walk from the start of the index that this position descends from was made.
    var madeAt: Int64

    static let lifetime: Int64 = 1000

    /// This position, if it may be started from at `now`: nil when it is too old or a webhook it
    /// skipped has room again.
    func valid(now: Int64, saturated current: Set<String>) -> ClaimCursor? {
        guard now - madeAt < Self.lifetime, now >= madeAt, saturated.isSubset(of: current) else { return nil }
        return self
    }
}
