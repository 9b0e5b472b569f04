import WebhookCore
import WebhookStorage

extension PostgresWebhookStore {
    /// The columns ``webhook(from:_:)`` reads, in its order.
    static let webhookColumns = """
        id, workspace_id, url, events, secret, is_active, consecutive_failures, disabled_reason, disabled_at,
        failing_since, last_failure_at, paused_until, created_at, updated_at, previous_secret,
        previous_secret_expires_at, headers,
        (SELECT COUNT(*) FROM jobs WHERE jobs.webhook_id = webhooks.id AND jobs.state = 'paused') AS held_deliveries
        """

    /// The row lock a read of a webhook takes, where SQLite relied on its single writer.
    enum RowLock: String {
        case none = ""
        /// Keeps the webhook as read (enabled, disabled, deleted) until the transaction ends.
        case share = "FOR SHARE OF webhooks"
        /// For a read-modify-write of the webhook. Not a key update: inserting jobs (whose
        /// foreign key takes a key-share lock) does not wait for it.
        case update = "FOR NO KEY UPDATE OF webhooks"
    }

    /// The webhook in row `row` of a `SELECT \(webhookColumns)`.
    static func webhook(from rows: borrowing PostgresRows, _ row: Int) throws -> Webhook {
        let id = rows.string(row, 0)
        let eventsJSON = rows.string(row, 3)
        guard let names = try? JSONDecoderLite.stringArray(eventsJSON) else {
            throw StorageError("webhook \(id) has unreadable events \(eventsJSON)")
        }
        var headers = CustomHeaders()
        if let headersJSON = rows.optionalString(row, 16) {
            guard let decoded = try? JSONDecoderLite.headers(headersJSON) else {
                throw StorageError("webhook \(id) has unreadable headers")
            }
            headers = decoded
        }
        let failures = rows.int(row, 6)
        return Webhook(
            id: id,
            workspaceID: rows.string(row, 1),
            url: rows.string(row, 2),
            events: EventSubscription(trusted: names),
            secret: rows.string(row, 4),
            isActive: rows.int64(row, 5) != 0,
            consecutiveFailures: failures,
            disabledReason: rows.optionalString(row, 7),
            disabledAt: rows.optionalTime(row, 8),
            circuit: WebhookCircuit(
                consecutiveFailures: failures,
                failingSince: rows.optionalTime(row, 9),
                lastFailureAt: rows.optionalTime(row, 10),
                pausedUntil: rows.optionalTime(row, 11)
            ),
            heldDeliveries: rows.int(row, 17),
            previousSecret: rows.optionalString(row, 14),
            previousSecretExpiresAt: rows.optionalTime(row, 15),
            headers: headers,
            createdAt: rows.time(row, 12),
            updatedAt: rows.time(row, 13)
        )
    }

    /// The webhook `id`, if it exists, is not deleted and belongs to `workspaceID` (any when nil).
    static func fetchWebhook(_ connection: PostgresConnection, id: String, workspaceID: String?) throws -> Webhook? {
        try fetchWebhook(connection, id: id, workspaceID: workspaceID, locking: .none)
    }

    /// The webhook, read under `lock` (kept until the transaction ends).
    static func fetchWebhook(_ connection: PostgresConnection, id: String, workspaceID: String?, locking lock: RowLock)
        throws -> Webhook?
    {
        let rows = try connection.query(
            """
            SELECT \(webhookColumns) FROM webhooks
            WHERE id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR workspace_id = $2) \(lock.rawValue)
            """,
            [.text(id), .text(workspaceID)])
        return rows.count == 0 ? nil : try webhook(from: rows, 0)
    }

    public func createWebhook(_ new: NewWebhook, now: Timestamp, limit: Int?) async throws -> Webhook {
        let webhook = Webhook(
            id: Identifier.make(Identifier.webhook),
            workspaceID: new.workspaceID,
            url: new.url,
            events: new.events,
            secret: new.secret,
            headers: new.headers,
            createdAt: now,
            updatedAt: now
        )
        try await write { connection in
            if let limit {
                // Counted in the transaction that inserts, under a lock of the workspace that every
                // creation in it takes (on any host), so two creations at once cannot both pass. A
                // plain count would not do: READ COMMITTED does not see the other's uncommitted row.
                try connection.query("SELECT pg_advisory_xact_lock(hashtext($1))", [.text(new.workspaceID)])
                let count = try connection.query(
                    "SELECT COUNT(*) FROM webhooks WHERE workspace_id = $1 AND deleted_at IS NULL",
                    [.text(new.workspaceID)])
                if count.int(0, 0) >= limit { throw WebhookLimitReached(limit: limit) }
            }
            try connection.query(
                """
                INSERT INTO webhooks (id, workspace_id, url, events, secret, headers, created_at, updated_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
                """,
                [
                    .text(webhook.id), .text(webhook.workspaceID), .text(webhook.url),
                    .text(JSONDecoderLite.encode(webhook.events.names)), .text(webhook.secret),
                    .text(Self.headersColumn(webhook.headers)), .time(now),
                ])
        }
        return webhook
    }

    public func webhook(id: String, workspaceID: String?) async throws -> Webhook? {
        try await read { connection in try Self.fetchWebhook(connection, id: id, workspaceID: workspaceID) }
    }

    public func listWebhooks(workspaceID: String?, limit: Int, startingAfter: String?) async throws -> Page<Webhook> {
        try await read { connection in
            let rows = try connection.query(
                """
                SELECT \(Self.webhookColumns) FROM webhooks
                WHERE deleted_at IS NULL AND ($1::text IS NULL OR workspace_id = $1) AND ($2::text IS NULL OR id > $2)
                ORDER BY id LIMIT $3
                """,
                [.text(workspaceID), .text(startingAfter), .int(Int64(limit + 1))])
            let webhooks = try (0..<min(rows.count, limit)).map { try Self.webhook(from: rows, $0) }
            return Page(items: webhooks, hasMore: rows.count > limit)
        }
    }

    /// Applies `changes` to the webhook, locked for the transaction: a change made at once on
    /// another host waits, then applies to what this one wrote.
    public func updateWebhook(id: String, workspaceID: String?, changes: WebhookChanges, now: Timestamp) async throws
        -> Webhook?
    {
        try await write { connection in
            guard let current = try Self.fetchWebhook(connection, id: id, workspaceID: workspaceID, locking: .update)
            else { return nil }
            if let url = changes.url {
                try connection.query("UPDATE webhooks SET url = $2 WHERE id = $1", [.text(id), .text(url)])
            }
            if let events = changes.events {
                try connection.query(
                    "UPDATE webhooks SET events = $2 WHERE id = $1",
                    [.text(id), .text(JSONDecoderLite.encode(events.names))])
            }
            if let secret = changes.secret {
                // A secret set outright is in force at once: no overlap, the previous secret ends too.
                try connection.query(
                    """
                    UPDATE webhooks SET secret = $2, previous_secret = NULL, previous_secret_expires_at = NULL
                    WHERE id = $1
                    """,
                    [.text(id), .text(secret)])
            }
            if let headers = changes.headers {
                try connection.query(
                    "UPDATE webhooks SET headers = $2 WHERE id = $1", [.text(id), .text(Self.headersColumn(headers))])
            }
            var released = false
            if let active = changes.isActive, active != current.isActive {
                if active {
                    try Self.activate(connection, webhookID: id, now: now)
                    released = true
                } else {
                    try Self.deactivate(connection, webhookID: id, reason: .byHand, now: now)
                }
            }
            try connection.query("UPDATE webhooks SET updated_at = $2 WHERE id = $1", [.text(id), .time(now)])
            if released { try Self.notifyDaemons(connection) }
            return try Self.fetchWebhook(connection, id: id, workspaceID: workspaceID)
        }
    }

    public func rotateSecret(
        id: String, workspaceID: String?, to newSecret: String, overlapSeconds: Int, now: Timestamp
    ) async throws -> Webhook? {
        try await write { connection in
            guard let current = try Self.fetchWebhook(connection, id: id, workspaceID: workspaceID, locking: .update)
            else { return nil }
            let rotated = current.rotation.rotated(to: newSecret, overlapSeconds: overlapSeconds, now: now)
            try connection.query(
                """
                UPDATE webhooks SET secret = $2, previous_secret = $3, previous_secret_expires_at = $4, updated_at = $5
                WHERE id = $1
                """,
                [.text(id), .text(rotated.current), .text(rotated.previous), .time(rotated.expiresAt), .time(now)])
            return try Self.fetchWebhook(connection, id: id, workspaceID: workspaceID)
        }
    }

    /// The `headers` column for `headers`: NULL for none.
    static func headersColumn(_ headers: CustomHeaders) -> String? {
        headers.isEmpty ? nil : JSONDecoderLite.encode(headers)
    }

    /// Enables a webhook again: its circuit closed, its held jobs due now (oldest first, in the
    /// order they were made; a thousand now, the rest by the housekeeping, see ``settleJobs``).
    /// The caller wakes the daemons (``notifyDaemons(_:)``) once its transaction is written.
    static func activate(_ connection: PostgresConnection, webhookID: String, now: Timestamp) throws {
        try connection.query(
            """
            UPDATE webhooks SET is_active = 1, consecutive_failures = 0, failing_since = NULL,
                last_failure_at = NULL, paused_until = NULL, disabled_reason = NULL, disabled_at = NULL,
                disabled_by = NULL, next_recovery_probe_at = NULL, updated_at = $2
            WHERE id = $1
            """,
            [.text(webhookID), .time(now)])
        try settleJobs(connection, webhookID: webhookID, now: now)
    }

    /// Disables a webhook and holds its queued jobs (a thousand now, the rest by the housekeeping;
    /// the claim holds any it meets before); jobs in flight finish and are held after. A recovery
    /// probe already queued stays: it is the one job a disabled webhook is sent.
    static func deactivate(
        _ connection: PostgresConnection, webhookID: String, reason: DeliveryRules.DisableReason, now: Timestamp
    ) throws {
        try connection.query(
            """
            UPDATE webhooks SET is_active = 0, disabled_reason = $2, disabled_at = $3, disabled_by = $4,
                next_recovery_probe_at = NULL, updated_at = $3
            WHERE id = $1
            """,
            [.text(webhookID), .text(reason.description(at: now)), .time(now), .text(reason.source)])
        try settleJobs(connection, webhookID: webhookID, now: now)
    }

    public func deleteWebhook(id: String, workspaceID: String?, now: Timestamp) async throws -> Bool {
        // Random bytes drawn here, from the system's generator: PostgreSQL has no random bytes
        // without the pgcrypto extension.
        let overwrite = (0..<32).map { _ in UInt8.random(in: 0...255) }.map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
        }.joined()
        return try await write { connection in
            guard try Self.fetchWebhook(connection, id: id, workspaceID: workspaceID, locking: .update) != nil else {
                return false
            }
            // The row stays (its attempts name it); the secrets and custom header values (which may
            // carry credentials) do not: the secret is overwritten with random bytes, the rest
            // removed, so a copy or backup of the database holds nothing usable of them.
            try connection.query(
                """
                UPDATE webhooks SET deleted_at = $2, updated_at = $2, secret = $3,
                    previous_secret = NULL, previous_secret_expires_at = NULL, headers = NULL
                WHERE id = $1
                """,
                [.text(id), .time(now), .text(overwrite)])
            // Its queued and held jobs are cancelled: a thousand now, the rest by the housekeeping
            // (the claim cancels any it meets before).
            try Self.settleJobs(connection, webhookID: id, now: now)
            return true
        }
    }
}
