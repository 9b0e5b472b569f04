import ArgumentParser
import WebhookCore
import WebhookDaemon
import WebhookStorage

/// `qr3-webhookd status`: the queue at a glance.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Show the queue: pending, due, in flight, oldest due age, held deliveries, rejected outbox rows, failing and disabled webhooks, each webhook's in-flight limit.",
        discussion: """
            While a running daemon finds the database failing (a full disk, an I/O error), a line \
            under database: says so: the daemon notes it in the file <database>-status, which needs no new space \
            to be written.
            """
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
        /// What a running daemon last said about the database, while it finds it failing.
        var database_fault: FaultNote?
        /// Each webhook's adaptive in-flight limit, as a running daemon last wrote them.
        var concurrency_limits: Limits?
    }

    /// The adaptive in-flight limits of a running daemon (`<database>-limits`).
    struct Limits: Codable {
        var pid: Int32
        var updated: String
        var initial: Int
        var ceiling: Int
        var webhooks: Int
        var lowest: Int?
        var median: Int?
        var highest: Int?
        /// The webhooks with the lowest limits, lowest first (at most 20).
        var lowest_webhooks: [Limit]
    }

    struct Limit: Codable {
        var id: String
        var limit: Int
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

    /// The summary of a daemon's limits note.
    static func limits(_ note: LimitsNote) -> Limits {
        let sorted = note.limits.sorted { ($0.value, $0.key) < ($1.value, $1.key) }
        return Limits(
            pid: note.pid, updated: note.updated, initial: note.initial, ceiling: note.ceiling,
            webhooks: sorted.count, lowest: sorted.first?.value,
            median: sorted.isEmpty ? nil : sorted[sorted.count / 2].value,
            highest: sorted.last?.value,
            lowest_webhooks: sorted.prefix(20).map { Limit(id: $0.key, limit: $0.value) })
    }

    func run() async throws {
        let location = try global.location
        // The daemon's notes live beside a database file; a server database has none.
        let note = location.filePath.flatMap(FaultNote.read(databasePath:)).flatMap { $0.failing ? $0 : nil }
        let store: any WebhookStore
        let stats: QueueStats
        let rows: [RejectedEvent]
        do {
            store = try await global.openStore()
            stats = try await store.stats(now: .now(), includingTotals: true)
            rows = try await store.rejectedEvents(limit: max(0, rejected))
        } catch {
            // The database cannot be read either: what the daemon says about it is the most useful part.
            guard let note else { throw error }
            throw ValidationError("\(error)\n" + Self.faultLine(note))
        }
        let rejections = rows.map { row in
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
            database: location.description,
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
            latest_rejections: rejections,
            database_fault: note,
            concurrency_limits: location.filePath.flatMap(LimitsNote.read(databasePath:)).map(Self.limits)
        )
        if json {
            print(try Output.json(report))
            return
        }
        var lines = [
            "database:           \(report.database)"
        ]
        if let note { lines.append(Self.faultLine(note)) }
        lines += [
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
        if let limits = report.concurrency_limits {
            var line =
                "in-flight limits:   \(limits.webhooks) webhooks adapted (pid \(limits.pid), \(limits.updated)), "
                + "start \(limits.initial), ceiling \(limits.ceiling)"
            if let lowest = limits.lowest, let median = limits.median, let highest = limits.highest {
                line += "; lowest \(lowest), median \(median), highest \(highest)"
            }
            lines.append(line)
            let below = limits.lowest_webhooks.filter { $0.limit < limits.ceiling }.prefix(5)
            if !below.isEmpty {
                lines.append("  lowest: " + below.map { "\($0.id) \($0.limit)" }.joined(separator: ", "))
            }
        }
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

    /// `DATABASE FAILING:  disk full (database or disk is full) since ..., 7 tries, 40 results waiting (daemon pid 123)`.
    static func faultLine(_ note: FaultNote) -> String {
        let kind = note.fault.flatMap(StoreFault.Kind.init(rawValue:))?.phrase ?? note.fault ?? "database error"
        return "DATABASE FAILING:   \(kind) (\(note.error ?? "-")) since \(note.since ?? "-"), \(note.tries) tries, "
            + "\(note.results_waiting) results waiting; delivery paused, retried with back-off (daemon pid \(note.pid), "
            + "noted \(note.updated))"
    }
}

/// `bytes` as mebibytes with one decimal, e.g. `12.3 MiB`.
private func megabytes(_ bytes: Int64) -> String {
    let tenths = bytes * 10 / (1 << 20)
    return "\(tenths / 10).\(tenths % 10) MiB"
}
