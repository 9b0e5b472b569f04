import WebhookCore
import WebhookStorage

extension PostgresWebhookStore {
    public func enqueue(_ row: OutboxRow) async throws -> Int64 {
        try await write(durable: true) { connection in
            guard let sequence = try Self.insertOutboxRow(connection, row) else {
                throw StorageError("the outbox refused the row")
            }
            return sequence
        }
    }

    public func enqueueIfNew(_ row: OutboxRow) async throws -> Int64? {
        try await write(durable: true) { connection in
            if let eventID = row.eventID, let workspaceID = row.workspaceID {
                let known = try connection.query(
                    "SELECT 1 FROM events WHERE workspace_id = $1 AND id = $2", [.text(workspaceID), .text(eventID)])
                guard known.count == 0 else { return nil }
            }
            return try Self.insertOutboxRow(connection, row, ignoringDuplicates: true)
        }
    }

    /// Inserts `row` into the outbox as a producer's INSERT does; returns its sequence (nil when
    /// `ignoringDuplicates` and the row's event id is already in the outbox).
    @discardableResult
    static func insertOutboxRow(_ connection: PostgresConnection, _ row: OutboxRow, ignoringDuplicates: Bool = false)
        throws -> Int64?
    {
        let rows = try connection.query(
            """
            INSERT INTO outbox (event_id, workspace_id, type, data, target_webhook_id, created_at)
            VALUES ($1, $2, $3, $4, $5, $6)
            \(ignoringDuplicates ? "ON CONFLICT DO NOTHING" : "") RETURNING seq
            """,
            [
                .text(row.eventID), .text(row.workspaceID), .text(row.type),
                .text(row.data.map { String(decoding: $0, as: UTF8.self) }), .text(row.targetWebhookID),
                .int(row.createdAt.milliseconds),
            ])
        return rows.count == 1 ? rows.int64(0, 0) : nil
    }

    /// The most of a rejected row's `data` kept in `rejected_events`.
    static let rejectedDataBytes = 4096

    /// Stop taking rows into one ingest transaction once their data adds up to this many bytes.
    static let ingestBatchBytes = 8 << 20

    public func hasOutboxRows() async throws -> Bool {
        try await database.withConnection { connection in
            try connection.query(
                """
                SELECT EXISTS (SELECT 1 FROM outbox) OR EXISTS (SELECT 1 FROM events WHERE fanout_after IS NOT NULL)
                """
            ).bool(0, 0)
        }
    }

    public func ingest(limit: Int, jobLimit: Int, validator: OutboxValidator, now: Timestamp) async throws
        -> IngestReport
    {
        let validator = try await withEventIDKey(validator)
        return try await write { connection in
            try Self.ingest(connection, limit: limit, jobLimit: jobLimit, validator: validator, now: now)
        }
    }

    /// `validator` with this database's key for derived event ids, read once and kept.
    func withEventIDKey(_ validator: OutboxValidator) async throws -> OutboxValidator {
        try await eventIDKey.keyed(validator) {
            try await database.withConnection { connection in
                let rows = try connection.query("SELECT value FROM daemon_settings WHERE name = 'event_id_key'")
                return rows.count == 1 ? rows.string(0, 0) : ""
            }
        }
    }

    /// Takes in outbox rows as the SQLite store does (see its notes), with one difference:
    /// several daemons take rows at once, each locking the rows it takes (`FOR UPDATE SKIP
    /// LOCKED`), so rows are taken in order by each daemon but not one global order across them.
    static func ingest(
        _ connection: PostgresConnection, limit: Int, jobLimit: Int, validator: OutboxValidator, now: Timestamp
    ) throws -> IngestReport {
        var report = IngestReport()
        var fanOut = FanOut(rows: PostgresFanOutRows(connection: connection, now: now), budget: max(1, jobLimit))
        try fanOut.resume(report: &report)
        guard fanOut.budget > 0 else {
            try fanOut.rows.flush()
            report.hasMore = true
            return report
        }
        // A `data` over the limit is measured by the server and never sent here.
        let rows = try connection.query(
            """
            SELECT seq, event_id, workspace_id, type, target_webhook_id, created_at, octet_length(data),
                CASE WHEN octet_length(data) <= $2 THEN data END
            FROM outbox ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED
            """, [.int(Int64(limit)), .int(Int64(validator.maximumDataBytes))])
        // Rows are checked first, their events stored in one statement, then fanned out in order
        // as far as the job budget goes: a handful of round trips whatever the batch.
        var taken: [Int64] = []
        var bytes = 0
        var accepted: [(event: ValidatedEvent, target: Subscriber?)] = []
        for index in 0..<rows.count {
            guard bytes < ingestBatchBytes else { break }
            let row = OutboxRow(
                sequence: rows.int64(index, 0),
                eventID: rows.optionalString(index, 1),
                workspaceID: rows.optionalString(index, 2),
                type: rows.optionalString(index, 3),
                data: rows.isNull(index, 7) ? (rows.isNull(index, 6) ? nil : []) : rows.bytes(index, 7),
                targetWebhookID: rows.optionalString(index, 4),
                createdAt: rows.time(index, 5)
            )
            let dataBytes = rows.optionalInt64(index, 6).map(Int.init) ?? 0
            taken.append(row.sequence)
            bytes += dataBytes
            let early = validator.rejection(dataBytes: dataBytes)
            switch early.map({ Result<ValidatedEvent, OutboxValidator.Rejection>.failure($0) })
                ?? validator.validate(row)
            {
            case .failure(let rejection):
                report.rejected.append(try reject(connection, row, reason: rejection.reason, now: now))
            case .success(let event):
                guard let targetID = event.targetWebhookID else {
                    accepted.append((event, nil))
                    continue
                }
                guard let webhook = try fetchWebhook(connection, id: targetID, workspaceID: event.workspaceID) else {
                    let reason = "target webhook \(targetID) does not exist in workspace \(event.workspaceID)"
                    report.rejected.append(try reject(connection, row, reason: reason, now: now))
                    continue
                }
                let target = Subscriber(
                    id: webhook.id, events: webhook.events, isActive: webhook.isActive, createdAt: webhook.createdAt)
                accepted.append((event, target))
            }
        }
        var new = try insertEvents(connection, accepted.map(\.event), now: now)
        var waiting: [FanOutEvent] = []
        for (event, target) in accepted {
            // An event already known (taken in before, or twice in this batch) is a duplicate.
            guard new.remove(NewEventKey(workspaceID: event.workspaceID, id: event.id)) != nil else {
                report.duplicates += 1
                continue
            }
            report.events += 1
            let pending = FanOutEvent(id: event.id, workspaceID: event.workspaceID, type: event.type, dispatchedAt: now)
            if let target {
                try fanOut.make([target], for: pending, report: &report)
            } else if fanOut.budget > 0 {
                try fanOut.fanOut(pending, after: nil, report: &report)
            } else {
                waiting.append(pending)
            }
        }
        try fanOut.rows.flush()
        // Events the budget did not reach are fanned out by the next transactions, from the start.
        if !waiting.isEmpty {
            try connection.query(
                """
                UPDATE events SET fanout_after = ''
                FROM unnest($1::text[], $2::text[]) AS w (workspace_id, id)
                WHERE events.workspace_id = w.workspace_id AND events.id = w.id
                """, [.texts(waiting.map(\.workspaceID)), .texts(waiting.map(\.id))])
        }
        report.hasMore = bytes >= ingestBatchBytes || fanOut.budget <= 0 || !waiting.isEmpty
        guard !taken.isEmpty else { return report }
        try connection.query("DELETE FROM outbox WHERE seq = ANY($1::bigint[])", [.ints(taken)])
        return report
    }

    /// An event's key: its id within its workspace.
    private struct NewEventKey: Hashable {
        var workspaceID: String
        var id: String
    }

    /// Stores `events` in one statement; returns the keys of those that were new.
    private static func insertEvents(_ connection: PostgresConnection, _ events: [ValidatedEvent], now: Timestamp)
        throws -> Set<NewEventKey>
    {
        guard !events.isEmpty else { return [] }
        let inserted = try connection.query(
            """
            INSERT INTO events (id, workspace_id, type, payload, created_at, dispatched_at)
            SELECT e.id, e.workspace_id, e.type, e.payload, e.created_at, $6
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
                AS e (id, workspace_id, type, payload, created_at)
            ON CONFLICT DO NOTHING RETURNING workspace_id, id
            """,
            [
                .texts(events.map(\.id)), .texts(events.map(\.workspaceID)), .texts(events.map(\.type.rawValue)),
                .texts(events.map { String(decoding: $0.payload, as: UTF8.self) }),
                .ints(events.map(\.createdAt.milliseconds)), .int(now.milliseconds),
            ])
        return Set((0..<inserted.count).map { NewEventKey(workspaceID: inserted.string($0, 0), id: inserted.string($0, 1)) })
    }

    /// Moves outbox row `row` to `rejected_events` with `reason`, with the first
    /// ``rejectedDataBytes`` bytes of its data.
    static func reject(_ connection: PostgresConnection, _ row: OutboxRow, reason: String, now: Timestamp) throws
        -> RejectedEvent
    {
        try connection.query(
            """
            INSERT INTO rejected_events
                (seq, event_id, workspace_id, type, data, target_webhook_id, created_at, rejected_at, reason)
            SELECT seq, $2, $3, $4, left(data, $8), $5, created_at, $6, $7 FROM outbox WHERE seq = $1
            ON CONFLICT (seq) DO UPDATE SET reason = excluded.reason, rejected_at = excluded.rejected_at
            """,
            [
                .int(row.sequence), .text(row.eventID), .text(row.workspaceID), .text(row.type),
                .text(row.targetWebhookID), .int(now.milliseconds), .text(reason), .int(Int64(rejectedDataBytes)),
            ])
        return RejectedEvent(
            sequence: row.sequence, eventID: row.eventID, workspaceID: row.workspaceID, type: row.type, reason: reason,
            createdAt: row.createdAt, rejectedAt: now)
    }
}

extension PostgresWebhookStore {
    public func rejectedEvents(limit: Int) async throws -> [RejectedEvent] {
        try await read { connection in
            let rows = try connection.query(
                """
                SELECT seq, event_id, workspace_id, type, reason, created_at, rejected_at
                FROM rejected_events ORDER BY seq DESC LIMIT $1
                """, [.int(Int64(limit))])
            return (0..<rows.count).map { row in
                RejectedEvent(
                    sequence: rows.int64(row, 0), eventID: rows.optionalString(row, 1),
                    workspaceID: rows.optionalString(row, 2), type: rows.optionalString(row, 3),
                    reason: rows.string(row, 4), createdAt: rows.time(row, 5), rejectedAt: rows.time(row, 6))
            }
        }
    }
}

/// The rows of a fan-out in PostgreSQL: ``FanOut`` applies the rules, this reads and writes them.
struct PostgresFanOutRows: FanOutRows {
    let connection: PostgresConnection
    /// When the jobs are made (due at once).
    let now: Timestamp

    init(connection: PostgresConnection, now: Timestamp) {
        self.connection = connection
        self.now = now
    }

    /// Unfinished fan-outs another daemon is going on with (their rows locked) are left to it.
    func unfinished(limit: Int) throws -> [(event: FanOutEvent, after: String)] {
        let rows = try connection.query(
            """
            SELECT id, workspace_id, type, dispatched_at, fanout_after FROM events
            WHERE fanout_after IS NOT NULL ORDER BY dispatched_at LIMIT $1 FOR UPDATE SKIP LOCKED
            """, [.int(Int64(limit))])
        return (0..<rows.count).compactMap { row in
            guard let type = EventType(rawValue: rows.string(row, 2)) else { return nil }
            let event = FanOutEvent(
                id: rows.string(row, 0), workspaceID: rows.string(row, 1), type: type,
                dispatchedAt: rows.time(row, 3))
            return (event, rows.string(row, 4))
        }
    }

    func subscribers(workspaceID: String, after: String?, limit: Int) throws -> [Subscriber] {
        let rows = try connection.query(
            """
            SELECT id, events, is_active, created_at FROM webhooks
            WHERE workspace_id = $1 AND deleted_at IS NULL AND id > $2 ORDER BY id LIMIT $3
            """, [.text(workspaceID), .text(after ?? ""), .int(Int64(limit))])
        return (0..<rows.count).map { row in
            Subscriber(
                id: rows.string(row, 0),
                events: EventSubscription(trusted: (try? JSONDecoderLite.stringArray(rows.string(row, 1))) ?? []),
                isActive: rows.int(row, 2) != 0, createdAt: rows.time(row, 3))
        }
    }

    func setPosition(_ after: String?, of event: FanOutEvent) throws {
        try connection.query(
            "UPDATE events SET fanout_after = $3 WHERE workspace_id = $1 AND id = $2",
            [.text(event.workspaceID), .text(event.id), .text(after)])
    }

    /// Jobs wait here and go in with one statement (``flush()``): nothing reads them before.
    private var jobs: (events: [String], webhooks: [String], states: [String]) = ([], [], [])

    mutating func makeJobs(of event: FanOutEvent, webhookIDs: [String], states: [DeliveryRules.JobState]) throws {
        jobs.events += repeatElement(event.id, count: webhookIDs.count)
        jobs.webhooks += webhookIDs
        jobs.states += states.map(\.rawValue)
        // A fan-out to thousands goes in a page at a time.
        if jobs.events.count >= FanOut<Self>.pageSize { try flush() }
    }

    /// Inserts the jobs made so far.
    mutating func flush() throws {
        guard !jobs.events.isEmpty else { return }
        try connection.query(
            """
            INSERT INTO jobs (event_id, webhook_id, state, available_at, created_at, updated_at)
            SELECT t.event_id, t.webhook_id, t.state, $4, $4, $4
            FROM unnest($1::text[], $2::text[], $3::text[]) AS t (event_id, webhook_id, state)
            ON CONFLICT DO NOTHING
            """, [.texts(jobs.events), .texts(jobs.webhooks), .texts(jobs.states), .int(now.milliseconds)])
        jobs = ([], [], [])
    }
}
