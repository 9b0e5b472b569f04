import GRDB
import WebhookCore
import WebhookStorage

/// Makes the jobs of events within one transaction's job budget.
///
/// An event whose matching webhooks exceed what is left of the budget gets jobs for the first of
/// them (in id order) and keeps its place in `events.fanout_after`; the next transactions go on
/// from there. Only webhooks that existed when the event was taken in get it, so a fan-out spread
/// over several transactions reaches exactly the webhooks one transaction would have.
struct FanOut {
    let db: Database
    /// Jobs this transaction may still make.
    var budget: Int
    let now: Timestamp
    /// The webhooks of workspaces that have fewer than a page of them, read once per transaction.
    private var small: [String: [Subscriber]] = [:]

    init(db: Database, budget: Int, now: Timestamp) {
        self.db = db
        self.budget = budget
        self.now = now
    }

    /// An event being fanned out.
    struct Event {
        var id: String
        var workspaceID: String
        var type: EventType
        var dispatchedAt: Timestamp
    }

    /// Goes on with the fan-outs earlier transactions left unfinished, oldest first.
    mutating func resume(report: inout IngestReport) throws {
        // Every ingest asks, and the answer is nearly always none: a prepared statement and a probe
        // of an empty partial index.
        let unfinished = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT id, workspace_id, type, dispatched_at, fanout_after FROM events INDEXED BY events_fanning_out
                    WHERE fanout_after IS NOT NULL ORDER BY dispatched_at LIMIT 100
                    """)
        )
        for row in unfinished where budget > 0 {
            guard let type = EventType(rawValue: row["type"]) else { continue }
            let event = Event(
                id: row["id"], workspaceID: row["workspace_id"], type: type,
                dispatchedAt: Timestamp(milliseconds: row["dispatched_at"]))
            try fanOut(event, after: row["fanout_after"], report: &report)
        }
    }

    /// Webhooks read at a time when fanning out.
    static let pageSize = 1000

    /// Makes jobs for the webhooks of the event's workspace that match it, after `after` (a
    /// webhook id) when going on, as far as the budget goes; notes where it stopped.
    ///
    /// A workspace's webhooks are read a page at a time in id order, so going on with an event
    /// that matches thousands reads only the next page, not them all again.
    mutating func fanOut(_ event: Event, after: String?, report: inout IngestReport) throws {
        var cursor = after
        var finished = false
        while budget > 0 {
            let page = try subscribers(event.workspaceID, after: cursor)
            let matching = page.filter { $0.receives(event.type, dispatchedAt: event.dispatchedAt) }
            let batch = Array(matching.prefix(budget))
            try make(batch, for: event, report: &report)
            if batch.count < matching.count {
                cursor = batch.last?.id ?? cursor
                break
            }
            cursor = page.last?.id ?? cursor
            if page.count < Self.pageSize {
                finished = true
                break
            }
        }
        let stored = finished ? nil : cursor
        if stored != after {
            try db.execute(
                sql: "UPDATE events SET fanout_after = ?3 WHERE workspace_id = ?1 AND id = ?2",
                arguments: [event.workspaceID, event.id, stored]
            )
        }
    }

    /// A page of the workspace's webhooks after `after`, in id order. A workspace with fewer
    /// webhooks than a page is read once per transaction and kept.
    private mutating func subscribers(_ workspaceID: String, after: String?) throws -> [Subscriber] {
        if let all = small[workspaceID] {
            guard let after else { return all }
            return all.filter { $0.id > after }
        }
        // An index range from `after`: the first page starts below every id.
        let page = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT id, events, is_active, created_at FROM webhooks INDEXED BY webhooks_by_workspace
                    WHERE workspace_id = ?1 AND deleted_at IS NULL AND id > ?2 ORDER BY id LIMIT ?3
                    """),
            arguments: [workspaceID, after ?? "", Self.pageSize]
        ).map { row in
            let names = (try? JSONDecoderLite.stringArray(row["events"])) ?? []
            return Subscriber(
                id: row["id"], events: EventSubscription(trusted: names), isActive: row["is_active"],
                createdAt: Timestamp(milliseconds: row["created_at"]))
        }
        if after == nil, page.count < Self.pageSize { small[workspaceID] = page }
        return page
    }

    /// Makes one job of `event` for each of `targets` (held for a disabled webhook).
    mutating func make(_ targets: [Subscriber], for event: Event, report: inout IngestReport) throws {
        let job = try db.cachedStatement(
            sql: """
                INSERT OR IGNORE INTO jobs (event_id, webhook_id, state, available_at, created_at, updated_at)
                VALUES (?1, ?2, ?3, ?4, ?4, ?4)
                """
        )
        for webhook in targets {
            try job.executeRaw { values in
                values.bind(event.id)
                values.bind(webhook.id)
                values.bind(DeliveryRules.newJobState(webhookActive: webhook.isActive).rawValue)
                values.bind(now.milliseconds)
            }
            report.jobs += 1
            if !webhook.isActive { report.heldJobs += 1 }
        }
        budget -= targets.count
    }
}
