import WebhookCore
import WebhookStorage

extension PostgresWebhookStore {
    /// The columns ``attempt(from:_:)`` reads, in its order.
    static let attemptColumns = """
        id, webhook_id, event_id, event_type, attempt, status, status_code, response_time_ms, failure_class,
        response_excerpt, next_retry_at, created_at, name_lookup_us, connect_us, tls_us, first_byte_us, total_us,
        remote_address, signed_at, signatures, header_names
        """

    static func attempt(from rows: borrowing PostgresRows, _ row: Int) -> DeliveryAttempt {
        var attempt = DeliveryAttempt(
            id: rows.string(row, 0),
            webhookID: rows.string(row, 1),
            eventID: rows.string(row, 2),
            eventType: rows.string(row, 3),
            attempt: rows.int(row, 4),
            succeeded: rows.string(row, 5) == "success",
            statusCode: rows.optionalInt64(row, 6).map(Int.init),
            responseTimeMs: rows.int(row, 7),
            failure: rows.optionalString(row, 8).map { FailureClass(rawValue: $0) ?? .other },
            responseExcerpt: rows.string(row, 9),
            nextRetryAt: rows.optionalTime(row, 10),
            createdAt: rows.time(row, 11)
        )
        attempt.timings = TransferTimings(
            nameLookup: rows.optionalInt64(row, 12), connect: rows.optionalInt64(row, 13),
            tls: rows.optionalInt64(row, 14), firstByte: rows.optionalInt64(row, 15),
            total: rows.optionalInt64(row, 16))
        attempt.remoteAddress = rows.optionalString(row, 17)
        attempt.signedAt = rows.optionalInt64(row, 18)
        attempt.signatureCount = rows.optionalInt64(row, 19).map(Int.init) ?? 1
        attempt.headerNames = rows.optionalString(row, 20).flatMap { try? JSONDecoderLite.stringArray($0) } ?? []
        return attempt
    }

    /// The delivery log of one webhook, newest first: read from `attempts` along its index
    /// `(webhook_id, id)` (ids sort by time), where SQLite keeps a separate per-webhook log.
    public func deliveries(_ query: DeliveryQuery) async throws -> Page<DeliveryAttempt> {
        try await read { connection in
            guard try Self.fetchWebhook(connection, id: query.webhookID, workspaceID: query.workspaceID) != nil else {
                return Page(items: [], hasMore: false)
            }
            if let cursor = query.startingAfter {
                let found = try connection.query(
                    "SELECT 1 FROM attempts WHERE id = $1 AND webhook_id = $2", [.text(cursor), .text(query.webhookID)])
                guard found.count == 1 else { throw StoreQueryError.unknownCursor(cursor) }
            }
            let status: String? = query.succeeded.map { $0 ? "success" : "failed" }
            let rows = try connection.query(
                """
                SELECT \(Self.attemptColumns) FROM attempts
                WHERE webhook_id = $1 AND ($2::text IS NULL OR id < $2) AND ($3::text IS NULL OR status = $3)
                  AND ($4::text IS NULL OR event_type = $4) AND ($6::text IS NULL OR event_id = $6)
                ORDER BY id DESC LIMIT $5
                """,
                [
                    .text(query.webhookID), .text(query.startingAfter), .text(status), .text(query.eventType),
                    .int(Int64(query.limit + 1)), .text(query.eventID),
                ])
            let items = (0..<min(rows.count, query.limit)).map { Self.attempt(from: rows, $0) }
            return Page(items: items, hasMore: rows.count > query.limit)
        }
    }

    public func delivery(id: String, webhookID: String, workspaceID: String?) async throws -> DeliveryAttempt? {
        try await read { connection in
            guard try Self.fetchWebhook(connection, id: webhookID, workspaceID: workspaceID) != nil else { return nil }
            let rows = try connection.query(
                "SELECT \(Self.attemptColumns) FROM attempts WHERE id = $1 AND webhook_id = $2",
                [.text(id), .text(webhookID)])
            return rows.count == 0 ? nil : Self.attempt(from: rows, 0)
        }
    }

    /// Counts for `status`, metrics and the service status line, from one snapshot.
    public func stats(now: Timestamp, includingTotals: Bool) async throws -> QueueStats {
        try await read { connection in
            var stats = QueueStats()
            stats.outboxBacklog = try connection.query("SELECT COUNT(*) FROM outbox").int(0, 0)
            // Each figure from its own partial index, as SQLite reads them. Pending: not held by
            // anyone (the due index), or held under a lease that ran out (the lease index); due:
            // the same, counting only those whose time has come.
            let unleased = try connection.query(
                """
                SELECT COUNT(*), COUNT(*) FILTER (WHERE available_at <= $1::bigint), MIN(available_at)
                FROM jobs WHERE state = 'pending' AND lease_owner IS NULL
                """,
                [.time(now)])
            let leased = try connection.query(
                """
                SELECT COUNT(*) FILTER (WHERE lease_expires_at > $1::bigint),
                    COUNT(*) FILTER (WHERE lease_expires_at <= $1::bigint), MIN(lease_expires_at)
                FROM jobs WHERE lease_owner IS NOT NULL
                """,
                [.time(now)])
            let expired = leased.int(0, 1)
            stats.inFlight = leased.int(0, 0)
            stats.pending = unleased.int(0, 0) + expired
            stats.due = unleased.int(0, 1) + expired
            let firsts = [unleased.optionalInt64(0, 2), leased.optionalInt64(0, 2)]
            if let oldest = firsts.compactMap({ $0 }).filter({ $0 <= now.milliseconds }).min() {
                stats.oldestDueAgeMs = max(0, now.milliseconds - oldest)
            }
            stats.held = try connection.query("SELECT COUNT(*) FROM jobs WHERE state = 'paused'").int(0, 0)
            stats.failingWebhooks = try connection.query(
                """
                SELECT COUNT(*) FROM webhooks
                WHERE consecutive_failures > 0 AND is_active = 1 AND deleted_at IS NULL
                """
            ).int(0, 0)
            if includingTotals {
                // One pass over the whole table.
                let totals = try connection.query(
                    """
                    SELECT COUNT(*) FILTER (WHERE state = 'delivered'), COUNT(*) FILTER (WHERE state = 'failed')
                    FROM jobs
                    """)
                stats.delivered = totals.int(0, 0)
                stats.failed = totals.int(0, 1)
            }
            stats.rejectedEvents = try connection.query("SELECT COUNT(*) FROM rejected_events").int(0, 0)
            let webhooks = try connection.query(
                """
                SELECT COUNT(*) FILTER (WHERE is_active = 1), COUNT(*) FILTER (WHERE is_active = 0)
                FROM webhooks WHERE deleted_at IS NULL
                """)
            stats.activeWebhooks = webhooks.int(0, 0)
            stats.disabledWebhooks = webhooks.int(0, 1)
            return stats
        }
    }

    public func troubledWebhooks(limit: Int) async throws -> [Webhook] {
        try await read { connection in
            // Each set from its own partial index: failing ones, then disabled ones.
            let rows = try connection.query(
                """
                SELECT \(Self.webhookColumns) FROM webhooks
                WHERE id IN (
                    SELECT id FROM webhooks WHERE consecutive_failures > 0 AND is_active = 1 AND deleted_at IS NULL
                    UNION SELECT id FROM webhooks WHERE is_active = 0 AND deleted_at IS NULL)
                  AND deleted_at IS NULL
                ORDER BY COALESCE(disabled_at, failing_since, updated_at), id LIMIT $1
                """,
                [.int(Int64(limit))])
            return try (0..<rows.count).map { try Self.webhook(from: rows, $0) }
        }
    }

    /// The tables `storageReport` counts, in the order it lists them: SQLite's, without its
    /// `attempt_log` (PostgreSQL reads the delivery log from `attempts`).
    static let reportedTables = ["outbox", "events", "jobs", "attempts", "rejected_events", "webhooks", "api_keys"]

    /// The database's size, its oldest kept event and its rows per table.
    ///
    /// What differs from SQLite: `bytes` is `pg_database_size` (the database's files, indexes
    /// included); `walBytes` is 0, as the server's write-ahead log is shared by every database of
    /// the cluster and is not this database's; `freeBytes` is 0, as PostgreSQL does not report
    /// the space VACUUM freed inside its files without the `pg_freespacemap` extension.
    public func storageReport() async throws -> StorageReport {
        try await read { connection in
            var report = StorageReport()
            report.bytes = try connection.query("SELECT pg_database_size(current_database())").int64(0, 0)
            report.oldestEvent = try connection.query("SELECT MIN(dispatched_at) FROM events").optionalTime(0, 0)
            for table in Self.reportedTables {
                report.rows.append((table, try connection.query("SELECT COUNT(*) FROM \(table)").int(0, 0)))
            }
            return report
        }
    }
}
