import ArgumentParser
import WebhookCore
import WebhookStorage

/// `qr3-webhookd status`: the queue at a glance.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Show the queue: pending, due, in flight, oldest due age, held deliveries, rejected outbox rows, failing and disabled webhooks."
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "How many of the latest rejected outbox rows to list.") var rejected: Int = 10
    @Flag(help: "Print JSON.") var json = false

    struct Report: Codable {
        var database: String
        var outbox_backlog: Int
        var pending: Int
        var due: Int
        var in_flight: Int
        var oldest_due_age_ms: Int64
        /// Deliveries held for disabled webhooks (also as `paused`, its earlier name).
        var held: Int
        var paused: Int
        var delivered: Int
        var failed: Int
        var rejected_events: Int
        var active_webhooks: Int
        var disabled_webhooks: Int
        var failing_webhooks: Int
        var database_bytes: Int64
        var wal_bytes: Int64
        var free_bytes: Int64
        var oldest_event: String?
        var rows: [String: Int]
        var troubled_webhooks: [Troubled]
        var latest_rejections: [Rejection]
    }

    /// A failing or disabled webhook.
    struct Troubled: Codable {
        var id: String
        var workspace_id: String
        var state: String
        var consecutive_failures: Int
        var failing_since: String?
        var paused_until: String?
        var disabled_reason: String?
        var disabled_at: String?
        var held_deliveries: Int
    }

    struct Rejection: Codable {
        var outbox_seq: Int64
        var event_id: String?
        var workspace_id: String?
        var type: String?
        var reason: String
        var rejected_at: String
    }

    func run() async throws {
        let store = try global.openStore()
        let stats = try await store.stats(now: .now(), includingTotals: true)
        let rejections = try await store.rejectedEvents(limit: max(0, rejected)).map { row in
            Rejection(
                outbox_seq: row.sequence,
                event_id: row.eventID,
                workspace_id: row.workspaceID,
                type: row.type,
                reason: row.reason,
                rejected_at: row.rejectedAt.iso8601
            )
        }
        let troubled = try await store.troubledWebhooks(limit: 20).map { webhook in
            Troubled(
                id: webhook.id,
                workspace_id: webhook.workspaceID,
                state: webhook.isActive ? "failing" : "disabled",
                consecutive_failures: webhook.consecutiveFailures,
                failing_since: webhook.circuit.failingSince?.iso8601,
                paused_until: webhook.isActive ? webhook.circuit.pausedUntil?.iso8601 : nil,
                disabled_reason: webhook.disabledReason,
                disabled_at: webhook.disabledAt?.iso8601,
                held_deliveries: webhook.heldDeliveries
            )
        }
        let storage = try await store.storageReport()
        let report = Report(
            database: store.path,
            outbox_backlog: stats.outboxBacklog,
            pending: stats.pending,
            due: stats.due,
            in_flight: stats.inFlight,
            oldest_due_age_ms: stats.oldestDueAgeMs,
            held: stats.held,
            paused: stats.held,
            delivered: stats.delivered,
            failed: stats.failed,
            rejected_events: stats.rejectedEvents,
            active_webhooks: stats.activeWebhooks,
            disabled_webhooks: stats.disabledWebhooks,
            failing_webhooks: stats.failingWebhooks,
            database_bytes: storage.bytes,
            wal_bytes: storage.walBytes,
            free_bytes: storage.freeBytes,
            oldest_event: storage.oldestEvent?.iso8601,
            rows: Dictionary(uniqueKeysWithValues: storage.rows.map { ($0.table, $0.count) }),
            troubled_webhooks: troubled,
            latest_rejections: rejections
        )
        if json {
            print(try Output.json(report))
            return
        }
        var lines = [
            "database:           \(report.database)",
            "size:               \(megabytes(storage.bytes)) (WAL \(megabytes(storage.walBytes)), "
                + "\(megabytes(storage.freeBytes)) free for reuse)",
            "oldest event kept:  \(report.oldest_event ?? "none")",
            "rows:               " + storage.rows.map { "\($0.table) \($0.count)" }.joined(separator: ", "),
            "outbox backlog:     \(report.outbox_backlog)",
            "pending jobs:       \(report.pending) (\(report.due) due now)",
            "in flight:          \(report.in_flight)",
            "oldest due:         \(Double(report.oldest_due_age_ms) / 1000) s",
            "held (disabled):    \(report.held)",
            "delivered:          \(report.delivered)",
            "failed for good:    \(report.failed)",
            "rejected rows:      \(report.rejected_events)",
            "webhooks:           \(report.active_webhooks) active (\(report.failing_webhooks) failing), "
                + "\(report.disabled_webhooks) disabled",
        ]
        if !troubled.isEmpty {
            lines.append("failing and disabled webhooks:")
            for webhook in troubled {
                var line = "  \(webhook.id) (\(webhook.workspace_id)) \(webhook.state)"
                if let reason = webhook.disabled_reason, let at = webhook.disabled_at {
                    line += " since \(at): \(reason); \(webhook.held_deliveries) held"
                } else if let since = webhook.failing_since {
                    line += " since \(since), \(webhook.consecutive_failures) failed probes"
                    if let next = webhook.paused_until { line += ", next probe \(next)" }
                }
                lines.append(line)
            }
        }
        if !rejections.isEmpty {
            lines.append("latest rejected outbox rows:")
            for rejection in rejections {
                lines.append(
                    "  #\(rejection.outbox_seq) \(rejection.rejected_at) \(rejection.type ?? "-"): \(rejection.reason)")
            }
        }
        print(lines.joined(separator: "\n"))
    }
}

/// `bytes` as mebibytes with one decimal, e.g. `12.3 MiB`.
private func megabytes(_ bytes: Int64) -> String {
    let tenths = bytes * 10 / (1 << 20)
    return "\(tenths / 10).\(tenths % 10) MiB"
}
