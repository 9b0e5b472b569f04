import WebhookCore
import WebhookStorage

extension PostgresWebhookStore {
    /// The columns ``apiKey(from:_:)`` reads, in its order.
    static let apiKeyColumns = "id, workspace_id, prefix, name, created_at, revoked_at"

    static func apiKey(from rows: borrowing PostgresRows, _ row: Int) -> APIKey {
        APIKey(
            id: rows.string(row, 0),
            workspaceID: rows.string(row, 1),
            prefix: rows.string(row, 2),
            name: rows.string(row, 3),
            createdAt: rows.time(row, 4),
            revokedAt: rows.optionalTime(row, 5)
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
        try await write { connection in
            try connection.query(
                """
                INSERT INTO api_keys (id, workspace_id, prefix, key_hash, name, created_at)
                VALUES ($1, $2, $3, $4, $5, $6)
                """,
                [
                    .text(stored.id), .text(key.workspaceID), .text(key.prefix), .text(key.hash), .text(key.name),
                    .time(now),
                ])
        }
        return stored
    }

    public func activeAPIKey(hash: String) async throws -> APIKey? {
        try await read { connection in
            let rows = try connection.query(
                "SELECT \(Self.apiKeyColumns) FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL", [.text(hash)])
            return rows.count == 0 ? nil : Self.apiKey(from: rows, 0)
        }
    }

    public func listAPIKeys(workspaceID: String?) async throws -> [APIKey] {
        try await read { connection in
            let rows = try connection.query(
                """
                SELECT \(Self.apiKeyColumns) FROM api_keys WHERE $1::text IS NULL OR workspace_id = $1
                ORDER BY created_at, id
                """,
                [.text(workspaceID)])
            return (0..<rows.count).map { Self.apiKey(from: rows, $0) }
        }
    }

    public func revokeAPIKey(idOrPrefix: String, now: Timestamp) async throws -> APIKey? {
        try await write { connection in
            try connection.query(
                "UPDATE api_keys SET revoked_at = $2 WHERE (id = $1 OR prefix = $1) AND revoked_at IS NULL",
                [.text(idOrPrefix), .time(now)])
            let rows = try connection.query(
                "SELECT \(Self.apiKeyColumns) FROM api_keys WHERE id = $1 OR prefix = $1", [.text(idOrPrefix)])
            return rows.count == 0 ? nil : Self.apiKey(from: rows, 0)
        }
    }
}
