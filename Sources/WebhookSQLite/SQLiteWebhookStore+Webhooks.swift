import GRDB
import WebhookCore
import WebhookStorage

extension SQLiteWebhookStore {
    static let webhookColumns = """
        id, workspace_id, url, events, secret, is_active, consecutive_failures, disabled_reason, disabled_at,
        failing_since, last_failure_at, paused_until, created_at, updated_at, previous_secret,
        previous_secret_expires_at, headers,
        (SELECT COUNT(*) FROM jobs INDEXED BY jobs_paused WHERE jobs.webhook_id = webhooks.id AND jobs.state = 'paused')
            AS held_deliveries
        """

    static func webhook(from row: Row) throws -> Webhook {
        let eventsJSON: String = row["events"]
        guard let names = try? JSONDecoderLite.stringArray(eventsJSON) else {
            throw StorageError("webhook \(row["id"] as String) has unreadable events \(eventsJSON)")
        }
        let disabledAt: Int64? = row["disabled_at"]
        func time(_ column: String) -> Timestamp? {
            (row[column] as Int64?).map(Timestamp.init(milliseconds:))
        }
        let headersJSON: String? = row["headers"]
        var headers = CustomHeaders()
        if let headersJSON {
            guard let decoded = try? JSONDecoderLite.headers(headersJSON) else {
                throw StorageError("webhook \(row["id"] as String) has unreadable headers")
            }
            headers = decoded
        }
        return Webhook(
            id: row["id"],
            workspaceID: row["workspace_id"],
            url: row["url"],
            events: EventSubscription(trusted: names),
            secret: row["secret"],
            isActive: row["is_active"],
            consecutiveFailures: row["consecutive_failures"],
            disabledReason: row["disabled_reason"],
            disabledAt: disabledAt.map(Timestamp.init(milliseconds:)),
            circuit: WebhookCircuit(
                consecutiveFailures: row["consecutive_failures"],
                failingSince: time("failing_since"),
                lastFailureAt: time("last_failure_at"),
                pausedUntil: time("paused_until")
            ),
            heldDeliveries: row["held_deliveries"],
            previousSecret: row["previous_secret"],
            previousSecretExpiresAt: time("previous_secret_expires_at"),
            headers: headers,
            createdAt: Timestamp(milliseconds: row["created_at"]),
            updatedAt: Timestamp(milliseconds: row["updated_at"])
        )
    }

    static func fetchWebhook(_ db: Database, id: String, workspaceID: String?) throws -> Webhook? {
        let row = try Row.fetchOne(
            db,
            sql: """
                SELECT \(webhookColumns) FROM webhooks
                WHERE id = ? AND deleted_at IS NULL AND (?2 IS NULL OR workspace_id = ?2)
                """,
            arguments: [id, workspaceID]
        )
        return try row.map(webhook(from:))
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
        try await write(durable: true) { db in
            // Counted in the transaction that inserts, so two creations at once cannot both pass.
            if let limit,
                try Int.fetchOne(
                    db,
                    sql:
                        "SELECT COUNT(*) FROM webhooks INDEXED BY webhooks_by_workspace WHERE workspace_id = ? AND deleted_at IS NULL",
                    arguments: [new.workspaceID]) ?? 0 >= limit
            {
                throw WebhookLimitReached(limit: limit)
            }
            try db.execute(
                sql: """
                    INSERT INTO webhooks (id, workspace_id, url, events, secret, headers, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    webhook.id, webhook.workspaceID, webhook.url, JSONDecoderLite.encode(webhook.events.names),
                    webhook.secret, Self.headersColumn(webhook.headers), now.milliseconds, now.milliseconds,
                ]
            )
        }
        return webhook
    }

    public func webhook(id: String, workspaceID: String?) async throws -> Webhook? {
        try await read { db in try Self.fetchWebhook(db, id: id, workspaceID: workspaceID) }
    }

    public func listWebhooks(workspaceID: String?, limit: Int, startingAfter: String?) async throws -> Page<Webhook> {
        try await read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.webhookColumns) FROM webhooks
                    WHERE deleted_at IS NULL AND (?1 IS NULL OR workspace_id = ?1) AND (?2 IS NULL OR id > ?2)
                    ORDER BY id LIMIT ?3
                    """,
                arguments: [workspaceID, startingAfter, limit + 1]
            )
            let webhooks = try rows.prefix(limit).map(Self.webhook(from:))
            return Page(items: webhooks, hasMore: rows.count > limit)
        }
    }

    public func updateWebhook(id: String, workspaceID: String?, changes: WebhookChanges, now: Timestamp) async throws
        -> Webhook?
    {
        try await write(durable: true) { db in
            guard let current = try Self.fetchWebhook(db, id: id, workspaceID: workspaceID) else { return nil }
            if let url = changes.url {
                try db.execute(sql: "UPDATE webhooks SET url = ? WHERE id = ?", arguments: [url, id])
            }
            if let events = changes.events {
                try db.execute(
                    sql: "UPDATE webhooks SET events = ? WHERE id = ?",
                    arguments: [JSONDecoderLite.encode(events.names), id]
                )
            }
            if let secret = changes.secret {
                // A secret set outright is in force at once: no overlap, the previous secret ends too.
                try db.execute(
                    sql: """
                        UPDATE webhooks SET secret = ?, previous_secret = NULL, previous_secret_expires_at = NULL
                        WHERE id = ?
                        """,
                    arguments: [secret, id]
                )
            }
            if let headers = changes.headers {
                try db.execute(
                    sql: "UPDATE webhooks SET headers = ? WHERE id = ?", arguments: [Self.headersColumn(headers), id])
            }
            if let active = changes.isActive, active != current.isActive {
                if active {
                    try Self.activate(db, webhookID: id, now: now)
                } else {
                    try Self.deactivate(db, webhookID: id, reason: .byHand, now: now)
                }
            }
            try db.execute(sql: "UPDATE webhooks SET updated_at = ? WHERE id = ?", arguments: [now.milliseconds, id])
            return try Self.fetchWebhook(db, id: id, workspaceID: workspaceID)
        }
    }

    public func rotateSecret(
        id: String, workspaceID: String?, to newSecret: String, overlapSeconds: Int, now: Timestamp
    ) async throws -> Webhook? {
        try await write { db in
            guard let current = try Self.fetchWebhook(db, id: id, workspaceID: workspaceID) else { return nil }
            let rotated = current.rotation.rotated(to: newSecret, overlapSeconds: overlapSeconds, now: now)
            try db.execute(
                sql: """
                    UPDATE webhooks SET secret = ?2, previous_secret = ?3, previous_secret_expires_at = ?4, updated_at = ?5
                    WHERE id = ?1
                    """,
                arguments: [id, rotated.current, rotated.previous, rotated.expiresAt?.milliseconds, now.milliseconds]
            )
            return try Self.fetchWebhook(db, id: id, workspaceID: workspaceID)
        }
    }

    /// The `headers` column for `headers`: NULL for none.
    static func headersColumn(_ headers: CustomHeaders) -> String? {
        headers.isEmpty ? nil : JSONDecoderLite.encode(headers)
    }

    /// Enables a webhook again: its circuit closed, its held jobs due now (oldest first, in the
    /// order they were made; a thousand now, the rest by the housekeeping, see ``settleJobs``).
    static func activate(_ db: Database, webhookID: String, now: Timestamp) throws {
        try db.execute(
            sql: """
                UPDATE webhooks SET is_active = 1, consecutive_failures = 0, failing_since = NULL,
                    last_failure_at = NULL, paused_until = NULL, disabled_reason = NULL, disabled_at = NULL,
                    disabled_by = NULL, next_recovery_probe_at = NULL, updated_at = ?2
                WHERE id = ?1
                """,
            arguments: [webhookID, now.milliseconds]
        )
        try settleJobs(db, webhookID: webhookID, now: now)
    }

    /// Disables a webhook and holds its queued jobs (a thousand now, the rest by the housekeeping;
    /// the claim holds any it meets before); jobs in flight finish and are held after. A recovery
    /// probe already queued stays: it is the one job a disabled webhook is sent.
    static func deactivate(_ db: Database, webhookID: String, reason: DeliveryRules.DisableReason, now: Timestamp)
        throws
    {
        try db.execute(
            sql: """
                UPDATE webhooks SET is_active = 0, disabled_reason = ?2, disabled_at = ?3, disabled_by = ?4,
                    next_recovery_probe_at = NULL, updated_at = ?3
                WHERE id = ?1
                """,
            arguments: [webhookID, reason.description(at: now), now.milliseconds, reason.source]
        )
        try settleJobs(db, webhookID: webhookID, now: now)
    }

    public func deleteWebhook(id: String, workspaceID: String?, now: Timestamp) async throws -> Bool {
        try await write(durable: true) { db in
            guard try Self.fetchWebhook(db, id: id, workspaceID: workspaceID) != nil else { return false }
            // The row stays (its attempts name it); the secrets and custom header values (which may
            // carry credentials) do not: the secret is overwritten with random bytes, the rest
            // removed, so a copy or backup of the database holds nothing usable of them.
            try db.execute(
                sql: """
                    UPDATE webhooks SET deleted_at = ?2, updated_at = ?2, secret = lower(hex(randomblob(32))),
                        previous_secret = NULL, previous_secret_expires_at = NULL, headers = NULL
                    WHERE id = ?1
                    """,
                arguments: [id, now.milliseconds]
            )
            // Its queued and held jobs are cancelled: a thousand now, the rest by the housekeeping
            // (the claim cancels any it meets before).
            try Self.settleJobs(db, webhookID: id, now: now)
            return true
        }
    }
}
