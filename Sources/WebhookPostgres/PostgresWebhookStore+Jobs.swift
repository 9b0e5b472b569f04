import WebhookCore
import WebhookStorage

extension PostgresWebhookStore {
    public func claim(owner: String, limit: Int, perWebhookLimit: Int, lease: Duration, now: Timestamp) async throws
        -> [ClaimedJob]
    {
        let request = ClaimRequest(owner: owner, limit: limit, perWebhookLimit: perWebhookLimit, lease: lease, now: now)
        guard limit > 0 else { return [] }
        return try await write { connection in try self.claim(connection, request) }
    }

    public func advance(_ round: DeliveryRound) async throws -> DeliveryRound.Report {
        var round = round
        if let ingest = round.ingest {
            round.ingest?.validator = try await withEventIDKey(ingest.validator)
        }
        return try await write { [round] connection in
            var report = DeliveryRound.Report()
            report.recorded = try Self.record(connection, round.results, rules: round.rules)
            if let ingest = round.ingest {
                report.ingested = try Self.ingest(
                    connection, limit: ingest.limit, jobLimit: ingest.jobLimit, validator: ingest.validator,
                    now: ingest.now)
            }
            if let claim = round.claim {
                report.claimed = try self.claim(connection, claim)
            }
            return report
        }
    }

    /// The advisory lock every claim takes: claims run one at a time across daemons, so each one
    /// counts the leases of the claims before it and the per-webhook cap holds across hosts. A
    /// claim takes a few milliseconds for hundreds of jobs.
    static let claimLock: Int64 = 0x7172_3363_6C61

    /// Claims due jobs as ``ClaimRequest`` asks, as the SQLite store does (see its notes): leases
    /// that ran out first, then due jobs oldest first, skipping webhooks at their limit (and a
    /// failing webhook's jobs but its one probe). Rows are locked `FOR UPDATE SKIP LOCKED`, so a
    /// job whose result another daemon is writing right now is passed over, not waited for.
    func claim(_ connection: PostgresConnection, _ request: ClaimRequest) throws -> [ClaimedJob] {
        let (owner, limit) = (request.owner, request.limit)
        guard limit > 0 else { return [] }
        try connection.query("SELECT pg_advisory_xact_lock($1)", [.int(Self.claimLock)])
        let now = request.now
        let claimedAt = request.nowInTransaction
        let expiry = claimedAt.milliseconds + request.lease.inMilliseconds
        // Live claims per webhook, of every daemon, and the open circuits: one round trip.
        var busy: [String: Int] = [:]
        var openCircuits: [(id: String, circuit: WebhookCircuit)] = []
        let state = try connection.query(
            """
            SELECT 0, webhook_id, count(*), NULL::bigint FROM jobs
            WHERE lease_owner IS NOT NULL AND lease_expires_at > $1 GROUP BY webhook_id
            UNION ALL
            SELECT 1, id, consecutive_failures, paused_until FROM webhooks
            WHERE consecutive_failures > 0 AND is_active = 1 AND deleted_at IS NULL
            """, [.int(now.milliseconds)])
        for row in 0..<state.count {
            if state.int(row, 0) == 0 {
                busy[state.string(row, 1)] = state.int(row, 2)
            } else {
                openCircuits.append(
                    (state.string(row, 1),
                     WebhookCircuit(consecutiveFailures: state.int(row, 2), pausedUntil: state.optionalTime(row, 3))))
            }
        }
        // ``ClaimSelection`` keeps each webhook within its capacity, as on SQLite.
        var selection = ClaimSelection(request, inFlight: busy, openCircuits: openCircuits)
        let saturated = selection.saturated
        // Claims whose lease ran out unrecorded (their daemon died or hung) come first.
        var previousOwners: [Int64: String] = [:]
        let expired = try connection.query(
            """
            SELECT id, webhook_id, lease_owner FROM jobs
            WHERE lease_owner IS NOT NULL AND lease_expires_at <= $1
            ORDER BY lease_expires_at, id LIMIT $2 FOR UPDATE SKIP LOCKED
            """, [.int(now.milliseconds), .int(Int64(limit))])
        for row in 0..<expired.count where !selection.isFull {
            let id = expired.int64(row, 0)
            previousOwners[id] = expired.string(row, 2)
            selection.take(id, of: expired.string(row, 1))
        }
        // Then due jobs, oldest first, from where the last walk found room (see ``ClaimCursor``).
        // A claimed job leaves its entry in the due index until vacuum removes it (the table's
        // autovacuum settings make that early); a walk steps over such entries cheaply once marked.
        let cursor = claimCursor.withLock { $0 }
        let previous = saturated.isEmpty ? nil : cursor?.valid(now: now.milliseconds, saturated: saturated)
        let walkLimit = limit * 4
        var first: (availableAt: Int64, id: Int64)?
        if !selection.isFull {
            let due = try connection.query(
                """
                SELECT id, webhook_id, available_at FROM jobs
                WHERE state = 'pending' AND lease_owner IS NULL AND available_at <= $1
                  AND (available_at, id) >= ($2::bigint, $3::bigint) AND NOT (webhook_id = ANY($4::text[]))
                ORDER BY available_at, id LIMIT $5 FOR UPDATE SKIP LOCKED
                """,
                [
                    .int(now.milliseconds), .int(previous?.availableAt ?? Int64.min), .int(previous?.id ?? Int64.min),
                    .texts(saturated), .int(Int64(walkLimit)),
                ])
            for row in 0..<due.count where !selection.isFull {
                let id = due.int64(row, 0)
                if first == nil { first = (due.int64(row, 2), id) }
                selection.take(id, of: due.string(row, 1))
            }
        }
        let next: ClaimCursor? =
            saturated.isEmpty
            ? nil
            : ClaimCursor(
                availableAt: first?.availableAt ?? now.milliseconds, id: first?.id ?? Int64.min,
                saturated: saturated, madeAt: previous?.madeAt ?? now.milliseconds)
        claimCursor.withLock { $0 = next }
        let chosen = selection.chosen
        guard !chosen.isEmpty else { return [] }
        // The lease and the job's details in one round trip.
        let rows = try connection.query(
            """
            WITH claimed AS (
                UPDATE jobs SET lease_owner = $1, lease_expires_at = $2, available_at = $2,
                    lease_token = lease_token + 1, updated_at = $3
                WHERE id = ANY($4::bigint[]) AND state = 'pending'
                RETURNING id, lease_token, attempts, webhook_id, event_id, attempt_base, probe, available_at
            )
            SELECT j.id, j.lease_token, j.attempts, j.webhook_id, w.url, w.secret, j.event_id,
                e.type, e.payload, e.created_at, w.workspace_id, j.attempt_base, j.probe, w.is_active,
                w.deleted_at IS NOT NULL, w.previous_secret, w.previous_secret_expires_at, w.headers
            FROM claimed j JOIN webhooks w ON w.id = j.webhook_id
                JOIN events e ON e.workspace_id = w.workspace_id AND e.id = j.event_id
                JOIN unnest($4::bigint[]) WITH ORDINALITY AS o (id, n) ON o.id = j.id
            ORDER BY o.n
            """, [.text(owner), .int(expiry), .int(now.milliseconds), .ints(chosen)])
        var claimed: [ClaimedJob] = []
        claimed.reserveCapacity(chosen.count)
        var held: [Int64] = []
        var cancelled: [Int64] = []
        for row in 0..<rows.count {
            let id = rows.int64(row, 0)
            let probe = rows.int(row, 12) != 0
            // A deleted webhook is sent nothing; a disabled one only its recovery probe.
            guard !rows.bool(row, 14) else {
                cancelled.append(id)
                continue
            }
            guard probe || rows.int(row, 13) != 0 else {
                held.append(id)
                continue
            }
            let headers = try rows.optionalString(row, 17).map(JSONDecoderLite.headers) ?? CustomHeaders()
            let webhookID = rows.string(row, 3)
            claimed.append(
                ClaimedJob(
                    jobID: id,
                    leaseToken: rows.int64(row, 1),
                    attempt: rows.int(row, 2) + 1,
                    webhookID: webhookID,
                    url: rows.string(row, 4),
                    secret: rows.string(row, 5),
                    eventID: rows.string(row, 6),
                    eventType: rows.string(row, 7),
                    payload: rows.bytes(row, 8),
                    eventCreatedAt: rows.time(row, 9),
                    reclaimedFrom: previousOwners[id],
                    workspaceID: rows.string(row, 10),
                    attemptBase: rows.int(row, 11),
                    claimedAt: claimedAt,
                    failuresWhenClaimed: selection.failures[webhookID] ?? 0,
                    isRecoveryProbe: probe,
                    previousSecret: rows.optionalString(row, 15),
                    previousSecretExpiresAt: rows.optionalTime(row, 16),
                    headers: headers
                ))
        }
        for (state, jobs) in [("paused", held), ("cancelled", cancelled)] where !jobs.isEmpty {
            try connection.query(
                """
                UPDATE jobs SET state = $3, lease_owner = NULL, lease_expires_at = NULL, updated_at = $2
                WHERE id = ANY($1::bigint[])
                """, [.ints(jobs), .int(now.milliseconds), .text(state)])
        }
        return claimed
    }

    public func record(_ results: [AttemptResult], rules: DeliveryRules) async throws -> RecordReport {
        guard !results.isEmpty else { return RecordReport() }
        return try await write { connection in try Self.record(connection, results, rules: rules) }
    }

    /// Records `results` as ``DeliveryRules`` decide, in a few statements whatever their number:
    /// the jobs are locked and fenced in one, the webhooks the rules need read (and locked, so two
    /// daemons recording failures of one webhook count them in turn) in another, then the rules
    /// run here, result by result, and the jobs and the attempt log are written in one statement
    /// each.
    static func record(_ connection: PostgresConnection, _ results: [AttemptResult], rules: DeliveryRules) throws
        -> RecordReport
    {
        guard !results.isEmpty else { return RecordReport() }
        var report = RecordReport()
        report.deliveryIDs.reserveCapacity(results.count)
        // The fencing check: a result counts only while its claim still holds the job.
        var live = Set<Int64>()
        let jobs = try connection.query(
            """
            SELECT id, lease_token FROM jobs
            WHERE id = ANY($1::bigint[]) AND state = 'pending' AND lease_owner IS NOT NULL
            ORDER BY id FOR UPDATE
            """, [.ints(results.map(\.job.jobID))])
        var tokens: [Int64: Int64] = [:]
        for row in 0..<jobs.count { tokens[jobs.int64(row, 0)] = jobs.int64(row, 1) }
        for result in results where tokens[result.job.jobID] == result.job.leaseToken {
            live.insert(result.job.jobID)
        }
        // The webhooks whose circuit the rules read: those with a failure or a probe in the batch,
        // and any with its circuit open (a success closes it).
        let webhookIDs = Set(results.lazy.filter { live.contains($0.job.jobID) }.map(\.job.webhookID))
        let needed = Set(
            results.lazy.filter { !$0.outcome.isSuccess || $0.job.isRecoveryProbe }.map(\.job.webhookID))
        var records: [String: CircuitRecord] = [:]
        if !webhookIDs.isEmpty {
            let rows = try connection.query(
                """
                SELECT id, workspace_id, is_active = 1 AND deleted_at IS NULL, deleted_at IS NOT NULL,
                    consecutive_failures, failing_since, last_failure_at, paused_until
                FROM webhooks WHERE id = ANY($1::text[]) AND (consecutive_failures <> 0 OR id = ANY($2::text[]))
                ORDER BY id FOR NO KEY UPDATE
                """, [.texts(webhookIDs), .texts(needed)])
            for row in 0..<rows.count {
                records[rows.string(row, 0)] = CircuitRecord(
                    workspaceID: rows.string(row, 1),
                    isActive: rows.bool(row, 2),
                    isDeleted: rows.bool(row, 3),
                    circuit: WebhookCircuit(
                        consecutiveFailures: rows.int(row, 4), failingSince: rows.optionalTime(row, 5),
                        lastFailureAt: rows.optionalTime(row, 6), pausedUntil: rows.optionalTime(row, 7)))
            }
        }
        var finished = FinishedJobs()
        var log = AttemptLog()
        var changedCircuits: [String: WebhookCircuit] = [:]
        for result in results {
            let job = result.job
            // A result of a job already recorded in this batch is stale too.
            guard live.remove(job.jobID) != nil else {
                report.staleResults.append(job)
                report.deliveryIDs.append(nil)
                continue
            }
            let (finishedAt, outcome) = (result.finishedAt, result.outcome)
            let webhook = records[job.webhookID]
            let verdict = rules.decide(
                job.ruleAttempt(outcome, finishedAt: finishedAt), circuit: webhook?.circuit ?? .closed,
                webhookActive: webhook?.isActive ?? true)
            let (availableAt, nextRetry) = verdict.availability(finishedAt: finishedAt)
            finished.append(
                id: job.jobID, state: verdict.jobState(webhookDeleted: webhook?.isDeleted ?? false),
                attempts: job.attempt, availableAt: availableAt, updatedAt: finishedAt)
            if var webhook, webhook.circuit != verdict.circuit || verdict.webhook != .unchanged {
                switch verdict.webhook {
                case .enable:
                    try activate(connection, webhookID: job.webhookID, now: finishedAt)
                    webhook.isActive = true
                    changedCircuits[job.webhookID] = nil
                case .disable(let reason):
                    try writeCircuit(connection, verdict.circuit, id: job.webhookID)
                    try deactivate(connection, webhookID: job.webhookID, reason: reason, now: finishedAt)
                    webhook.isActive = false
                    changedCircuits[job.webhookID] = nil
                    report.disabledWebhooks.append(job.webhookID)
                case .unchanged, .startedFailing, .recovered:
                    changedCircuits[job.webhookID] = verdict.circuit
                }
                webhook.circuit = verdict.circuit
                records[job.webhookID] = webhook
                if verdict.webhook != .unchanged {
                    report.webhookChanges.append(
                        WebhookChange(
                            webhookID: job.webhookID, workspaceID: webhook.workspaceID, step: verdict.webhook,
                            circuit: verdict.circuit, at: finishedAt))
                }
            }
            if verdict.countedFailure { report.countedFailures += 1 }
            if verdict.job == .failed { report.finallyFailed.append(job) }
            let deliveryID = Identifier.makeOrdered(Identifier.delivery, at: finishedAt)
            log.append(deliveryID, result, nextRetry: nextRetry)
            report.deliveryIDs.append(deliveryID)
        }
        for (id, circuit) in changedCircuits.sorted(by: { $0.key < $1.key }) {
            try writeCircuit(connection, circuit, id: id)
        }
        try finished.write(connection)
        try log.write(connection)
        return report
    }

    /// What the job rules need of a webhook row.
    private struct CircuitRecord {
        var workspaceID: String
        /// Enabled and not deleted.
        var isActive: Bool
        var isDeleted: Bool
        var circuit: WebhookCircuit
    }

    /// Stores `circuit` as the circuit of webhook `id`.
    static func writeCircuit(_ connection: PostgresConnection, _ circuit: WebhookCircuit, id: String) throws {
        try connection.query(
            """
            UPDATE webhooks SET consecutive_failures = $2, failing_since = $3, last_failure_at = $4, paused_until = $5
            WHERE id = $1
            """,
            [
                .text(id), .int(Int64(circuit.consecutiveFailures)), .time(circuit.failingSince),
                .time(circuit.lastFailureAt), .time(circuit.pausedUntil),
            ])
    }

    /// The jobs a batch of results finishes, written in one statement.
    private struct FinishedJobs {
        var ids: [Int64] = []
        var states: [String] = []
        var attempts: [Int64] = []
        var availableAt: [Int64] = []
        var updatedAt: [Int64] = []

        mutating func append(
            id: Int64, state: DeliveryRules.JobState, attempts: Int, availableAt: Timestamp, updatedAt: Timestamp
        ) {
            ids.append(id)
            states.append(state.rawValue)
            self.attempts.append(Int64(attempts))
            self.availableAt.append(availableAt.milliseconds)
            self.updatedAt.append(updatedAt.milliseconds)
        }

        func write(_ connection: PostgresConnection) throws {
            guard !ids.isEmpty else { return }
            try connection.query(
                """
                UPDATE jobs SET state = f.state, attempts = f.attempts, available_at = f.available_at,
                    lease_owner = NULL, lease_expires_at = NULL, updated_at = f.updated_at
                FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[])
                    AS f (id, state, attempts, available_at, updated_at)
                WHERE jobs.id = f.id
                """,
                [.ints(ids), .texts(states), .ints(attempts), .ints(availableAt), .ints(updatedAt)])
        }
    }

    /// The attempts of a batch, written to the log in one statement.
    private struct AttemptLog {
        var columns = [[String?]](repeating: [], count: 22)

        mutating func append(_ id: String, _ result: AttemptResult, nextRetry: Timestamp?) {
            let (job, outcome, timings) = (result.job, result.outcome, result.outcome.timings)
            let values: [String?] = [
                id, String(job.jobID), job.webhookID, job.eventID, job.eventType, String(job.attempt),
                outcome.isSuccess ? "success" : "failed", outcome.statusCode.map(String.init),
                String(outcome.responseTimeMs), outcome.failure?.rawValue, outcome.excerpt,
                nextRetry.map { String($0.milliseconds) }, String(result.finishedAt.milliseconds),
                timings.nameLookup.map(String.init), timings.connect.map(String.init), timings.tls.map(String.init),
                timings.firstByte.map(String.init), timings.total.map(String.init), outcome.remoteAddress,
                job.signedAt.map(String.init), job.signedAt == nil ? nil : String(job.signatureCount),
                job.headers.isEmpty ? nil : JSONDecoderLite.encode(job.headers.names),
            ]
            for (column, value) in values.enumerated() { columns[column].append(value) }
        }

        func write(_ connection: PostgresConnection) throws {
            guard !columns[0].isEmpty else { return }
            try connection.query(
                """
                INSERT INTO attempts (id, job_id, webhook_id, event_id, event_type, attempt, status, status_code,
                    response_time_ms, failure_class, response_excerpt, next_retry_at, created_at, name_lookup_us,
                    connect_us, tls_us, first_byte_us, total_us, remote_address, signed_at, signatures, header_names)
                SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::int[],
                    $7::text[], $8::int[], $9::bigint[], $10::text[], $11::text[], $12::bigint[], $13::bigint[],
                    $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[], $18::bigint[], $19::text[],
                    $20::bigint[], $21::int[], $22::text[])
                """, columns.map { PostgresValue.texts($0) })
        }
    }

    public func release(_ jobs: [ClaimedJob], now: Timestamp) async throws {
        guard !jobs.isEmpty else { return }
        try await write { connection in
            // A job handed back to a webhook disabled meanwhile is held, not made sendable.
            try connection.query(
                """
                UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL, available_at = $3, updated_at = $3,
                    state = CASE
                        WHEN probe = 1 OR (SELECT is_active FROM webhooks WHERE id = jobs.webhook_id) = 1
                        THEN 'pending' ELSE 'paused' END
                FROM unnest($1::bigint[], $2::bigint[]) AS r (id, token)
                WHERE jobs.id = r.id AND jobs.lease_token = r.token AND jobs.state = 'pending'
                """, [.ints(jobs.map(\.jobID)), .ints(jobs.map(\.leaseToken)), .int(now.milliseconds)])
            try Self.notifyDaemons(connection)
        }
    }

    public func nextDueTime() async throws -> Timestamp? {
        try await read { connection in
            // The first job to come due, or the first lease to run out (its job is due again then).
            let rows = try connection.query(
                """
                SELECT least(
                    (SELECT min(available_at) FROM jobs WHERE state = 'pending' AND lease_owner IS NULL),
                    (SELECT min(lease_expires_at) FROM jobs WHERE lease_owner IS NOT NULL))
                """)
            return rows.optionalTime(0, 0)
        }
    }
}
