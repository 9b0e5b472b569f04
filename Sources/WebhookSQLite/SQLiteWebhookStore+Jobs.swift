import Foundation
import GRDB
import WebhookCore
import WebhookStorage

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
            report.recorded = try Self.record(db, round.results, rules: round.rules)
            if let ingest = round.ingest {
                report.ingested = try Self.ingest(
                    db, limit: ingest.limit, jobLimit: ingest.jobLimit, validator: ingest.validator, now: ingest.now)
            }
            if let claim = round.claim {
                report.claimed = try self.claimCursor.withLock { try Self.claim(db, claim, cursor: &$0) }
            }
            return report
        }
    }

    static func claim(_ db: Database, _ request: ClaimRequest, cursor: inout ClaimCursor?) throws -> [ClaimedJob] {
        let (owner, limit) = (request.owner, request.limit)
        guard limit > 0 else { return [] }
        let now = request.now
        // The lease starts when the claim is made: the clock is read again here, inside the
        // transaction, so a claim that waited for the write lock still holds its jobs for the
        // whole lease.
        let claimedAt = request.nowInTransaction
        let expiry = claimedAt.milliseconds + request.lease.inMilliseconds
        do {
            // Live claims per webhook, of every owner, and the open circuits: ``ClaimSelection``
            // keeps each webhook within its capacity.
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
            var openCircuits: [(id: String, circuit: WebhookCircuit)] = []
            try db.cachedStatement(
                sql: """
                    SELECT id, consecutive_failures, paused_until FROM webhooks INDEXED BY webhooks_failing
                    WHERE consecutive_failures > 0 AND is_active = 1 AND deleted_at IS NULL
                    """
            ).forEachRawRow { _ in
            } _: { row in
                let circuit = WebhookCircuit(
                    consecutiveFailures: Int(row.int64(1)),
                    pausedUntil: row.isNull(2) ? nil : Timestamp(milliseconds: row.int64(2))
                )
                openCircuits.append((row.string(0), circuit))
                return true
            }
            var selection = ClaimSelection(request, inFlight: busy, openCircuits: openCircuits)
            let saturated = selection.saturated
            // The two sources below are disjoint (the due index holds no leased job), so no job
            // is taken twice.
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
            ) where !selection.isFull {
                let id: Int64 = row[0]
                previousOwners[id] = row[2]
                selection.take(id, of: row[1])
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
            for range in ranges where !selection.isFull && walked < walkLimit {
                try db.cachedStatement(sql: range.sql).forEachRawRow { values in
                    values.bind(range.bounds.0)
                    values.bind(range.bounds.1)
                    values.bind(saturatedList)
                } _: { row in
                    let id = row.int64(0)
                    if first == nil { first = (row.int64(2), id) }
                    walked += 1
                    selection.take(id, of: row.string(1))
                    return !selection.isFull && walked < walkLimit
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
            let chosen = selection.chosen
            guard !chosen.isEmpty else { return [] }
            let ids = JSONDecoderLite.encode(chosen)
            try db.cachedStatement(
                sql: """
                    UPDATE jobs SET lease_owner = ?1, lease_expires_at = ?2, available_at = ?2,
                        lease_token = lease_token + 1, updated_at = ?3
                    WHERE id IN (SELECT value FROM json_each(?4)) AND state = 'pending'
                    """
            ).execute(arguments: [owner, expiry, now.milliseconds, ids])
            var claimed: [ClaimedJob] = []
            claimed.reserveCapacity(chosen.count)
            // A disabled webhook is sent nothing but its recovery probe, a deleted one nothing. Their
            // jobs are held (cancelled) when they change, a batch at a time, so one turns up here
            // only before its batch, or through a lease that ran out or a hand-back racing the
            // change: it is held (cancelled) now instead of sent.
            var held: [Int64] = []
            var cancelled: [Int64] = []
            try db.cachedStatement(
                sql: """
                    SELECT j.id, j.lease_token, j.attempts, j.webhook_id, w.url, w.secret, j.event_id,
                        e.type, e.payload, e.created_at, w.workspace_id, j.attempt_base, j.probe, w.is_active,
                        w.deleted_at IS NOT NULL, w.previous_secret, w.previous_secret_expires_at, w.headers
                    FROM jobs j JOIN webhooks w ON w.id = j.webhook_id
                        JOIN events e ON e.workspace_id = w.workspace_id AND e.id = j.event_id
                    WHERE j.id IN (SELECT value FROM json_each(?1)) AND j.lease_owner = ?2
                    """
            ).forEachRawRow { values in
                values.bind(ids)
                values.bind(owner)
            } _: { row in
                let id = row.int64(0)
                let probe = row.int64(12) != 0
                guard row.int64(14) == 0 else {
                    cancelled.append(id)
                    return true
                }
                guard probe || row.int64(13) != 0 else {
                    held.append(id)
                    return true
                }
                // Most webhooks have no headers of their own: nothing to decode for them.
                let headers = try row.optionalString(17).map(JSONDecoderLite.headers) ?? CustomHeaders()
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
                        reclaimedFrom: previousOwners[id],
                        workspaceID: row.string(10),
                        attemptBase: Int(row.int64(11)),
                        claimedAt: claimedAt,
                        failuresWhenClaimed: selection.failures[row.string(3)] ?? 0,
                        isRecoveryProbe: probe,
                        previousSecret: row.optionalString(15),
                        previousSecretExpiresAt: row.isNull(16) ? nil : Timestamp(milliseconds: row.int64(16)),
                        headers: headers
                    )
                )
                return true
            }
            for (state, jobs) in [("paused", held), ("cancelled", cancelled)] where !jobs.isEmpty {
                try db.execute(
                    sql: """
                        UPDATE jobs SET state = ?3, lease_owner = NULL, lease_expires_at = NULL, updated_at = ?2
                        WHERE id IN (SELECT value FROM json_each(?1))
                        """,
                    arguments: [JSONDecoderLite.encode(jobs), now.milliseconds, state]
                )
            }
            return claimed
        }
    }

    public func record(_ results: [AttemptResult], rules: DeliveryRules) async throws -> RecordReport {
        guard !results.isEmpty else { return RecordReport() }
        return try await write { db in try Self.record(db, results, rules: rules) }
    }

    /// Records `results` as ``DeliveryRules`` decide: each job's next state, each webhook's
    /// circuit and state, and the attempt log.
    ///
    /// The common case stays cheap: a success of a webhook whose circuit is closed changes its job
    /// and appends to the log, nothing more. A failure reads its webhook's circuit, asks the rules,
    /// and writes back what they say.
    static func record(_ db: Database, _ results: [AttemptResult], rules: DeliveryRules) throws -> RecordReport {
        guard !results.isEmpty else { return RecordReport() }
        var report = RecordReport()
        report.deliveryIDs.reserveCapacity(results.count)
        // The fencing check is part of the update: no row changes when the claim was lost.
        let finish = try db.cachedStatement(
            sql: """
                UPDATE jobs SET state = ?2, attempts = ?3, available_at = ?4, lease_owner = NULL,
                    lease_expires_at = NULL, updated_at = ?5
                WHERE id = ?1 AND lease_token = ?6 AND state = 'pending' AND lease_owner IS NOT NULL
                """
        )
        let log = try db.cachedStatement(
            sql: """
                INSERT INTO attempts (id, job_id, webhook_id, event_id, event_type, attempt, status, status_code,
                    response_time_ms, failure_class, response_excerpt, next_retry_at, created_at, name_lookup_us,
                    connect_us, tls_us, first_byte_us, total_us, remote_address, signed_at, signatures, header_names)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        )
        // The delivery log's order by webhook, noted in the order recorded (see migration 6).
        let note = try db.cachedStatement(sql: "INSERT INTO attempt_log_tail (webhook_id, id) VALUES (?, ?)")
        // Most webhooks succeed with their circuit closed: find the few successes whose circuit is
        // open with one query, rather than a read per successful attempt.
        let succeeded = Set(results.lazy.filter(\.outcome.isSuccess).map(\.job.webhookID))
        var openCircuits = Set<String>()
        if !succeeded.isEmpty {
            openCircuits = try Set(
                String.fetchAll(
                    db.cachedStatement(
                        sql: """
                            SELECT id FROM webhooks
                            WHERE id IN (SELECT value FROM json_each(?)) AND consecutive_failures <> 0
                            """),
                    arguments: [JSONDecoderLite.encode(Array(succeeded))]
                )
            )
        }
        for result in results {
            let job = result.job
            let finishedAt = result.finishedAt
            let outcome = result.outcome
            let attempt = job.ruleAttempt(outcome, finishedAt: finishedAt)
            // What the webhook was before this attempt: read only when the rules need it.
            let webhook: WebhookRecord? =
                outcome.isSuccess && !job.isRecoveryProbe && !openCircuits.contains(job.webhookID)
                ? nil : try WebhookRecord.fetch(db, id: job.webhookID)
            let verdict = rules.decide(
                attempt, circuit: webhook?.circuit ?? .closed, webhookActive: webhook?.isActive ?? true)
            let next = verdict.availability(finishedAt: finishedAt)
            let availableAt = next.availableAt.milliseconds
            let nextRetry = next.nextRetryAt?.milliseconds
            let state = verdict.jobState(webhookDeleted: webhook?.isDeleted == true)
            let finished = try finish.executeRaw { values in
                values.bind(job.jobID)
                values.bind(state.rawValue)
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
            if let webhook, webhook.circuit != verdict.circuit || verdict.webhook != .unchanged {
                try apply(verdict, to: webhook, job: job, at: finishedAt, db: db, report: &report)
                if !verdict.circuit.isOpen { openCircuits.remove(job.webhookID) }
            }
            if verdict.countedFailure { report.countedFailures += 1 }
            if verdict.job == .failed { report.finallyFailed.append(job) }
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
                let timings = outcome.timings
                values.bind(timings.nameLookup)
                values.bind(timings.connect)
                values.bind(timings.tls)
                values.bind(timings.firstByte)
                values.bind(timings.total)
                values.bind(outcome.remoteAddress)
                values.bind(job.signedAt)
                values.bind(job.signedAt == nil ? nil : job.signatureCount)
                values.bind(job.headers.isEmpty ? nil : JSONDecoderLite.encode(job.headers.names))
            }
            try note.executeRaw { values in
                values.bind(job.webhookID)
                values.bind(deliveryID)
            }
            report.deliveryIDs.append(deliveryID)
        }
        return report
    }

    /// Writes a verdict's changes to the webhook: its circuit, and disabling or enabling it.
    private static func apply(
        _ verdict: DeliveryRules.Verdict, to webhook: WebhookRecord, job: ClaimedJob, at now: Timestamp,
        db: Database, report: inout RecordReport
    ) throws {
        switch verdict.webhook {
        case .enable:
            try activate(db, webhookID: webhook.id, now: now)
        case .disable(let reason):
            try WebhookRecord.write(verdict.circuit, id: webhook.id, db: db)
            try deactivate(db, webhookID: webhook.id, reason: reason, now: now)
            report.disabledWebhooks.append(webhook.id)
        case .unchanged, .startedFailing, .recovered:
            try WebhookRecord.write(verdict.circuit, id: webhook.id, db: db)
        }
        if verdict.webhook != .unchanged {
            report.webhookChanges.append(
                WebhookChange(
                    webhookID: webhook.id, workspaceID: webhook.workspaceID, step: verdict.webhook,
                    circuit: verdict.circuit, at: now)
            )
        }
    }

    public func release(_ jobs: [ClaimedJob], now: Timestamp) async throws {
        guard !jobs.isEmpty else { return }
        try await write { db in
            let statement = try db.cachedStatement(
                // A job handed back to a webhook disabled meanwhile is held, not made sendable.
                sql: """
                    UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL, available_at = ?3, updated_at = ?3,
                        state = CASE
                            WHEN probe = 1 OR (SELECT is_active FROM webhooks WHERE id = jobs.webhook_id) = 1
                            THEN 'pending' ELSE 'paused' END
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
        try await write(durable: true) { db in
            // A disabled webhook is sent nothing: its jobs stay held until it is enabled.
            guard let webhook = try Self.fetchWebhook(db, id: webhookID, workspaceID: workspaceID), webhook.isActive
            else { return false }
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
