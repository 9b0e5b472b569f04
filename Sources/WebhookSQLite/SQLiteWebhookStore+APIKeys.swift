import GRDB
import WebhookCore
import WebhookStorage

extension SQLiteWebhookStore {
    static func apiKey(from row: Row) -> APIKey {
        let revoked: Int64? = row["revoked_at"]
        return APIKey(
            id: row["id"],
            workspaceID: row["workspace_id"],
            prefix: row["prefix"],
            name: row["name"],
            createdAt: Timestamp(milliseconds: row["created_at"]),
            revokedAt: revoked.map(Timestamp.init(milliseconds:))
        )
    }

    public func createAPIKey(_ key: NewAPIKey, now: Timestamp) async throws -> APIKey {
        let stored = APIKey(
            id: Identifier.make(Identifier.apiKeyID),
            workspaceID: key.workspaceID,
            prefix: key.prefix,
            name: key.name,
            createdAt: now,
            revokedAt: nil
        )
        try await write(durable: true) { db in
            try db.execute(
                sql: """
                    INSERT INTO api_keys (id, workspace_id, prefix, key_hash, name, created_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [stored.id, key.workspaceID, key.prefix, key.hash, key.name, now.milliseconds]
            )
        }
        return stored
    }

    public func activeAPIKey(hash: String) async throws -> APIKey? {
        try await read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
                arguments: [hash]
            ).map(Self.apiKey(from:))
        }
    }

    public func listAPIKeys(workspaceID: String?) async throws -> [APIKey] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM api_keys WHERE ?1 IS NULL OR workspace_id = ?1 ORDER BY created_at, id",
                arguments: [workspaceID]
            ).map(Self.apiKey(from:))
        }
    }

    public func revokeAPIKey(idOrPrefix: String, now: Timestamp) async throws -> APIKey? {
        try await write(durable: true) { db in
            try db.execute(
                sql: "UPDATE api_keys SET revoked_at = ?2 WHERE (id = ?1 OR prefix = ?1) AND revoked_at IS NULL",
                arguments: [idOrPrefix, now.milliseconds]
            )
            return try Row.fetchOne(
                db,
                sql: "SELECT * FROM api_keys WHERE id = ?1 OR prefix = ?1",
                arguments: [idOrPrefix]
            ).map(Self.apiKey(from:))
        }
    }

    public func enqueueIfNew(_ row: OutboxRow) async throws -> Int64? {
        try await write(durable: true) { db in
            if let eventID = row.eventID {
                let known = try Bool.fetchOne(
                    db,
                    sql: """
                        SELECT EXISTS (SELECT 1 FROM outbox WHERE workspace_id = ?2 AND event_id = ?1)
                            OR EXISTS (SELECT 1 FROM events WHERE workspace_id = ?2 AND id = ?1)
                        """,
                    arguments: [eventID, row.workspaceID]
                )
                if known == true { return nil }
            }
            return try Self.insertOutboxRow(db, row)
        }
    }

    public func checkHealth() async throws {
        _ = try await read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }
}
