import GRDB
import WebhookCore

/// What the job rules need of a webhook row: its workspace, whether it is active, its circuit.
struct WebhookRecord {
    var id: String
    var workspaceID: String
    /// Enabled and not deleted.
    var isActive: Bool
    var isDeleted: Bool
    var circuit: WebhookCircuit

    /// The webhook `id`, deleted or not (a deleted webhook's results are still recorded).
    static func fetch(_ db: Database, id: String) throws -> WebhookRecord? {
        var record: WebhookRecord?
        try db.cachedStatement(
            sql: """
                SELECT workspace_id, is_active AND deleted_at IS NULL, consecutive_failures, failing_since,
                    last_failure_at, paused_until, deleted_at IS NOT NULL
                FROM webhooks WHERE id = ?
                """
        ).forEachRawRow {
            $0.bind(id)
        } _: { row in
            func time(_ column: Int32) -> Timestamp? {
                row.isNull(column) ? nil : Timestamp(milliseconds: row.int64(column))
            }
            record = WebhookRecord(
                id: id,
                workspaceID: row.string(0),
                isActive: row.int64(1) != 0,
                isDeleted: row.int64(6) != 0,
                circuit: WebhookCircuit(
                    consecutiveFailures: Int(row.int64(2)),
                    failingSince: time(3),
                    lastFailureAt: time(4),
                    pausedUntil: time(5)
                )
            )
            return false
        }
        return record
    }

    /// Stores `circuit` as the circuit of webhook `id`.
    static func write(_ circuit: WebhookCircuit, id: String, db: Database) throws {
        try db.cachedStatement(
            sql: """
                UPDATE webhooks SET consecutive_failures = ?2, failing_since = ?3, last_failure_at = ?4,
                    paused_until = ?5
                WHERE id = ?1
                """
        ).executeRaw { values in
            values.bind(id)
            values.bind(circuit.consecutiveFailures)
            values.bind(circuit.failingSince?.milliseconds)
            values.bind(circuit.lastFailureAt?.milliseconds)
            values.bind(circuit.pausedUntil?.milliseconds)
        }
    }
}
