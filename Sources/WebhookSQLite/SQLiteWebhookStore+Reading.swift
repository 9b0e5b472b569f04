import GRDB
import WebhookCore
import WebhookStorage

#if canImport(Glibc)
    import Glibc
#endif

extension SQLiteWebhookStore {
    static func attempt(from row: Row) -> DeliveryAttempt {
        let next: Int64? = row["next_retry_at"]
        let failure: String? = row["failure_class"]
        var attempt = DeliveryAttempt(
            id: row["id"],
            webhookID: row["webhook_id"],
            eventID: row["event_id"],
            eventType: row["event_type"],
            attempt: row["attempt"],
            succeeded: (row["status"] as String) == "success",
            statusCode: row["status_code"],
            responseTimeMs: row["response_time_ms"],
            failure: failure.map { FailureClass(rawValue: $0) ?? .other },
            responseExcerpt: row["response_excerpt"],
            nextRetryAt: next.map(Timestamp.init(milliseconds:)),
            createdAt: Timestamp(milliseconds: row["created_at"])
        )
        attempt.timings = TransferTimings(
            nameLookup: row["name_lookup_us"], connect: row["connect_us"], tls: row["tls_us"],
            firstByte: row["first_byte_us"], total: row["total_us"])
        attempt.remoteAddress = row["remote_address"]
        attempt.signedAt = row["signed_at"]
        attempt.signatureCount = row["signatures"] ?? 1
        let names: String? = row["header_names"]
        attempt.headerNames = names.flatMap { try? JSONDecoderLite.stringArray($0) } ?? []
        return attempt
    }

    public func deliveries(_ query: DeliveryQuery) async throws -> Page<DeliveryAttempt> {
        try await read { db in
            guard try Self.fetchWebhook(db, id: query.webhookID, workspaceID: query.workspaceID) != nil else {
                return Page(items: [], hasMore: false)
            }
            if let cursor = query.startingAfter {
                guard
                    try Bool.fetchOne(
                        db,
                        sql: "SELECT 1 FROM attempts WHERE id = ? AND webhook_id = ?",
                        arguments: [cursor, query.webhookID]
                    ) != nil
                else {
                    throw StoreQueryError.unknownCursor(cursor)
                }
            }
            let status: String? = query.succeeded.map { $0 ? "success" : "failed" }
            // The webhook's attempts newest first, from where they are filed (attempt_log, walked
            // backwards along its key) and from the tail not yet filed (a few seconds' worth at
            // most). One snapshot: a row is in exactly one of the two.
            let arguments: StatementArguments = [
                query.webhookID, query.startingAfter, status, query.eventType, query.limit + 1, query.eventID,
            ]
            // The same page from either place: `source` names the table; both hold (webhook_id, id).
            func page(from source: String) throws -> [Row] {
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT a.* FROM \(source) l JOIN attempts a ON a.id = l.id
                        WHERE l.webhook_id = ?1 AND (?2 IS NULL OR l.id < ?2) AND (?3 IS NULL OR a.status = ?3)
                          AND (?4 IS NULL OR a.event_type = ?4) AND (?6 IS NULL OR a.event_id = ?6)
                        ORDER BY l.id DESC LIMIT ?5
                        """,
                    arguments: arguments
                )
            }
            let filed = try page(from: "attempt_log")
            let recent = try page(from: "attempt_log_tail")
            let rows = (filed + recent).sorted { ($0["id"] as String) > ($1["id"] as String) }.prefix(query.limit + 1)
            return Page(items: rows.prefix(query.limit).map(Self.attempt(from:)), hasMore: rows.count > query.limit)
        }
    }

    public func delivery(id: String, webhookID: String, workspaceID: String?) async throws -> DeliveryAttempt? {
        try await read { db in
            guard try Self.fetchWebhook(db, id: webhookID, workspaceID: workspaceID) != nil else { return nil }
            return try Row.fetchOne(
                db,
                sql: "SELECT * FROM attempts WHERE id = ? AND webhook_id = ?",
                arguments: [id, webhookID]
            ).map(Self.attempt(from:))
        }
    }

    public func stats(now: Timestamp, includingTotals: Bool) async throws -> QueueStats {
        try await read { db in
            var stats = QueueStats()
            stats.outboxBacklog = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox") ?? 0
            // Each figure from its own partial index, so reading them costs no table scan and no
            // sort, however many jobs the table holds (the daemon reads them every few seconds).
            // Pending: not held by anyone (the due index), or held under a lease that ran out
            // (the lease index); due: the same, counting only those whose time has come. One
            // pass over each index.
            let unleased: (all: Int, due: Int, first: Int64?) =
                try Row.fetchOne(
                    db,
                    sql: """
                        SELECT COUNT(*), COUNT(*) FILTER (WHERE available_at <= ?1), MIN(available_at)
                        FROM jobs INDEXED BY jobs_due WHERE state = 'pending' AND lease_owner IS NULL
                        """,
                    arguments: [now.milliseconds]
                ).map { ($0[0], $0[1], $0[2]) } ?? (0, 0, nil)
            let leased: (live: Int, expired: Int, first: Int64?) =
                try Row.fetchOne(
                    db,
                    sql: """
                        SELECT COUNT(*) FILTER (WHERE lease_expires_at > ?1),
                            COUNT(*) FILTER (WHERE lease_expires_at <= ?1), MIN(lease_expires_at)
                        FROM jobs INDEXED BY jobs_leased WHERE lease_owner IS NOT NULL
                        """,
                    arguments: [now.milliseconds]
                ).map { ($0[0], $0[1], $0[2]) } ?? (0, 0, nil)
            stats.inFlight = leased.live
            stats.pending = unleased.all + leased.expired
            stats.due = unleased.due + leased.expired
            if let oldest = [unleased.first, leased.first].compactMap({ $0 }).filter({ $0 <= now.milliseconds }).min() {
                stats.oldestDueAgeMs = max(0, now.milliseconds - oldest)
            }
            stats.held =
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jobs INDEXED BY jobs_paused WHERE state = 'paused'")
                ?? 0
            stats.failingWebhooks =
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT COUNT(*) FROM webhooks INDEXED BY webhooks_failing
                        WHERE consecutive_failures > 0 AND is_active = 1 AND deleted_at IS NULL
                        """
                ) ?? 0
            if includingTotals {
                // One pass over the whole table, counted as it goes (no GROUP BY sort in memory).
                if let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT COUNT(*) FILTER (WHERE state = 'delivered'), COUNT(*) FILTER (WHERE state = 'failed')
                        FROM jobs
                        """
                ) {
                    stats.delivered = row[0]
                    stats.failed = row[1]
                }
            }
            stats.rejectedEvents = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rejected_events") ?? 0
            if let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT COUNT(*) FILTER (WHERE is_active = 1) AS active, COUNT(*) FILTER (WHERE is_active = 0) AS disabled
                    FROM webhooks WHERE deleted_at IS NULL
                    """
            ) {
                stats.activeWebhooks = row["active"]
                stats.disabledWebhooks = row["disabled"]
            }
            return stats
        }
    }
}

extension SQLiteWebhookStore {
    public func troubledWebhooks(limit: Int) async throws -> [Webhook] {
        try await read { db in
            // Each set from its own partial index: failing ones, then disabled ones.
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.webhookColumns) FROM webhooks
                    WHERE id IN (
                        SELECT id FROM webhooks INDEXED BY webhooks_failing
                        WHERE consecutive_failures > 0 AND is_active = 1 AND deleted_at IS NULL
                        UNION SELECT id FROM webhooks INDEXED BY webhooks_disabled WHERE is_active = 0 AND deleted_at IS NULL)
                      AND deleted_at IS NULL
                    ORDER BY COALESCE(disabled_at, failing_since, updated_at), id LIMIT ?
                    """,
                arguments: [limit]
            )
            return try rows.map(Self.webhook(from:))
        }
    }
}

extension SQLiteWebhookStore {
    /// The tables `storageReport` counts, in the order it lists them.
    static let reportedTables = [
        "outbox", "events", "jobs", "attempts", "attempt_log", "rejected_events", "webhooks", "api_keys",
    ]

    public func storageReport() async throws -> StorageReport {
        var report = try await read { db in
            var report = StorageReport()
            let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
            report.freeBytes = (try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0) * pageSize
            // Events are appended in the order they are taken in: the first row is the oldest.
            report.oldestEvent = try Int64.fetchOne(db, sql: "SELECT dispatched_at FROM events ORDER BY rowid LIMIT 1")
                .map(Timestamp.init(milliseconds:))
            for table in Self.reportedTables {
                report.rows.append((table, try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0))
            }
            return report
        }
        func size(_ file: String) -> Int64 {
            var info = stat()
            return stat(file, &info) == 0 ? Int64(info.st_size) : 0
        }
        report.walBytes = size(path + "-wal")
        report.bytes = size(path) + report.walBytes
        return report
    }
}
