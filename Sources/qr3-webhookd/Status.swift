import ArgumentParser
import WebhookCore
import WebhookStorage

/// `qr3-webhookd status`: the queue at a glance.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the queue: pending, due, in flight, oldest due age, rejected outbox rows, disabled webhooks."
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
        var paused: Int
        var delivered: Int
        var failed: Int
        var rejected_events: Int
        var active_webhooks: Int
        var disabled_webhooks: Int
        var latest_rejections: [Rejection]
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
        let report = Report(
            database: store.path,
            outbox_backlog: stats.outboxBacklog,
            pending: stats.pending,
            due: stats.due,
            in_flight: stats.inFlight,
            oldest_due_age_ms: stats.oldestDueAgeMs,
            paused: stats.paused,
            delivered: stats.delivered,
            failed: stats.failed,
            rejected_events: stats.rejectedEvents,
            active_webhooks: stats.activeWebhooks,
            disabled_webhooks: stats.disabledWebhooks,
            latest_rejections: rejections
        )
        if json {
            print(try Output.json(report))
            return
        }
        var lines = [
            "database:           \(report.database)",
            "outbox backlog:     \(report.outbox_backlog)",
            "pending jobs:       \(report.pending) (\(report.due) due now)",
            "in flight:          \(report.in_flight)",
            "oldest due:         \(Double(report.oldest_due_age_ms) / 1000) s",
            "paused (disabled):  \(report.paused)",
            "delivered:          \(report.delivered)",
            "failed for good:    \(report.failed)",
            "rejected rows:      \(report.rejected_events)",
            "webhooks:           \(report.active_webhooks) active, \(report.disabled_webhooks) disabled",
        ]
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
