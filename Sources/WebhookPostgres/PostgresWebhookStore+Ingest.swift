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
        guard validator.eventIDKey.isEmpty else { return validator }
        var keyed = validator
        if let key = eventIDKey.withLock({ $0 }) {
            keyed.eventIDKey = key
            return keyed
        }
        let key = try await database.withConnection { connection in
            let rows = try connection.query("SELECT value FROM daemon_settings WHERE name = 'event_id_key'")
            return rows.count == 1 ? rows.string(0, 0) : ""
        }
        eventIDKey.withLock { $0 = key }
        keyed.eventIDKey = key
        return keyed
    }

    /// Takes in outbox rows as the SQLite store does (see its notes), with one difference:
    /// several daemons take rows at once, each locking the rows it takes (`FOR UPDATE SKIP
    /// LOCKED`), so rows are taken in order by each daemon but not one global order across them.
    static func ingest(
        _ connection: PostgresConnection, limit: Int, jobLimit: Int, validator: OutboxValidator, now: Timestamp
    ) throws -> IngestReport {
        var report = IngestReport()
        var fanOut = PostgresFanOut(connection: connection, budget: max(1, jobLimit), now: now)
        try fanOut.resume(report: &report)
        guard fanOut.budget > 0 else {
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
        var taken: [Int64] = []
        var bytes = 0
        for index in 0..<rows.count {
            guard bytes < ingestBatchBytes, fanOut.budget > 0 else { break }
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
                var target: Subscriber?
                if let targetID = event.targetWebhookID {
                    guard let webhook = try fetchWebhook(connection, id: targetID, workspaceID: event.workspaceID)
                    else {
                        let reason = "target webhook \(targetID) does not exist in workspace \(event.workspaceID)"
                        report.rejected.append(try reject(connection, row, reason: reason, now: now))
                        continue
                    }
                    target = Subscriber(
                        id: webhook.id, events: webhook.events, isActive: webhook.isActive, createdAt: webhook.createdAt)
                }
                let inserted = try connection.query(
                    """
                    INSERT INTO events (id, workspace_id, type, payload, created_at, dispatched_at)
                    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING
                    """,
                    [
                        .text(event.id), .text(event.workspaceID), .text(event.type.rawValue),
                        .text(String(decoding: event.payload, as: UTF8.self)), .int(event.createdAt.milliseconds),
                        .int(now.milliseconds),
                    ])
                guard inserted.affected == 1 else {
                    report.duplicates += 1
                    continue
                }
                report.events += 1
                let pending = PostgresFanOut.Event(
                    id: event.id, workspaceID: event.workspaceID, type: event.type, dispatchedAt: now)
                if let target {
                    try fanOut.make([target], for: pending, report: &report)
                } else {
                    try fanOut.fanOut(pending, after: nil, report: &report)
                }
            }
        }
        report.hasMore = bytes >= ingestBatchBytes || fanOut.budget <= 0
        guard !taken.isEmpty else { return report }
        try connection.query("DELETE FROM outbox WHERE seq = ANY($1::bigint[])", [.ints(taken)])
        return report
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

/// Makes the jobs of events within one transaction's job budget, as the SQLite store's FanOut
/// does: a page of a workspace's webhooks at a time in id order, matching by ``Subscriber``, the
/// place of an unfinished fan-out kept in `events.fanout_after`.
struct PostgresFanOut {
    let connection: PostgresConnection
    var budget: Int
    let now: Timestamp
    private var small: [String: [Subscriber]] = [:]

    init(connection: PostgresConnection, budget: Int, now: Timestamp) {
        self.connection = connection
        self.budget = budget
        self.now = now
    }

    struct Event {
        var id: String
        var workspaceID: String
        var type: EventType
        var dispatchedAt: Timestamp
    }

    static let pageSize = 1000

    /// Goes on with the fan-outs earlier transactions left unfinished, oldest first; one another
    /// daemon is going on with is left to it.
    mutating func resume(report: inout IngestReport) throws {
        let unfinished = try connection.query(
            """
            SELECT id, workspace_id, type, dispatched_at, fanout_after FROM events
            WHERE fanout_after IS NOT NULL ORDER BY dispatched_at LIMIT 100 FOR UPDATE SKIP LOCKED
            """)
        for row in 0..<unfinished.count where budget > 0 {
            guard let type = EventType(rawValue: unfinished.string(row, 2)) else { continue }
            let event = Event(
                id: unfinished.string(row, 0), workspaceID: unfinished.string(row, 1), type: type,
                dispatchedAt: unfinished.time(row, 3))
            try fanOut(event, after: unfinished.optionalString(row, 4), report: &report)
        }
    }

    mutating func fanOut(_ event: Event, after: String?, report: inout IngestReport) throws {
        var cursor = after
        var finished = false
        while budget > 0 {
            let page = try subscribers(event.workspaceID, after: cursor)
            let matching = page.filter { $0.receives(event.type, dispatchedAt: event.dispatchedAt) }
            let batch = Array(matching.prefix(budget))
            try make(batch, for: event, report: &report)
            if batch.count < matching.count {
                cursor = batch.last?.id ?? cursor
                break
            }
            cursor = page.last?.id ?? cursor
            if page.count < Self.pageSize {
                finished = true
                break
            }
        }
        let stored = finished ? nil : cursor
        if stored != after {
            try connection.query(
                "UPDATE events SET fanout_after = $3 WHERE workspace_id = $1 AND id = $2",
                [.text(event.workspaceID), .text(event.id), .text(stored)])
        }
    }

    private mutating func subscribers(_ workspaceID: String, after: String?) throws -> [Subscriber] {
        if let all = small[workspaceID] {
            guard let after else { return all }
            return all.filter { $0.id > after }
        }
        let rows = try connection.query(
            """
            SELECT id, events, is_active, created_at FROM webhooks
            WHERE workspace_id = $1 AND deleted_at IS NULL AND id > $2 ORDER BY id LIMIT $3
            """, [.text(workspaceID), .text(after ?? ""), .int(Int64(Self.pageSize))])
        let page = (0..<rows.count).map { row in
            Subscriber(
                id: rows.string(row, 0),
                events: EventSubscription(trusted: (try? JSONDecoderLite.stringArray(rows.string(row, 1))) ?? []),
                isActive: rows.int(row, 2) != 0, createdAt: rows.time(row, 3))
        }
        if after == nil, page.count < Self.pageSize { small[workspaceID] = page }
        return page
    }

    /// Makes one job of `event` for each of `targets` (held for a disabled webhook), in one statement.
    mutating func make(_ targets: [Subscriber], for event: Event, report: inout IngestReport) throws {
        guard !targets.isEmpty else { return }
        try connection.query(
            """
            INSERT INTO jobs (event_id, webhook_id, state, available_at, created_at, updated_at)
            SELECT $1, t.webhook_id, t.state, $4, $4, $4 FROM unnest($2::text[], $3::text[]) AS t (webhook_id, state)
            ON CONFLICT DO NOTHING
            """,
            [
                .text(event.id), .texts(targets.map(\.id)),
                .texts(targets.map { DeliveryRules.newJobState(webhookActive: $0.isActive).rawValue }),
                .int(now.milliseconds),
            ])
        report.jobs += targets.count
        report.heldJobs += targets.count { !$0.isActive }
        budget -= targets.count
    }
}
