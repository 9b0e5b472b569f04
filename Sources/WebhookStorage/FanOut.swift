import WebhookCore

/// The rows a fan-out reads and writes, in a store's own SQL: each store conforms once, and
/// ``FanOut`` applies the rules (paging, budget, matching) for all of them.
public protocol FanOutRows {
    /// Events whose fan-out an earlier transaction left unfinished, oldest first, with the id of
    /// the last webhook each got a job for.
    mutating func unfinished(limit: Int) throws -> [(event: FanOutEvent, after: String)]
    /// Up to `limit` of the workspace's webhooks (not deleted) after `after`, in id order.
    mutating func subscribers(workspaceID: String, after: String?, limit: Int) throws -> [Subscriber]
    /// Notes where the event's fan-out stopped (`nil`: finished).
    mutating func setPosition(_ after: String?, of event: FanOutEvent) throws
    /// Makes one job of `event` for each webhook, pending or held as `states` say (a job that
    /// exists already is left alone).
    mutating func makeJobs(of event: FanOutEvent, webhookIDs: [String], states: [DeliveryRules.JobState]) throws
}

/// An event being fanned out.
public struct FanOutEvent: Sendable, Hashable {
    public var id: String
    public var workspaceID: String
    public var type: EventType
    /// When it was taken in: only webhooks that existed then get it.
    public var dispatchedAt: Timestamp

    public init(id: String, workspaceID: String, type: EventType, dispatchedAt: Timestamp) {
        self.id = id
        self.workspaceID = workspaceID
        self.type = type
        self.dispatchedAt = dispatchedAt
    }
}

/// Makes the jobs of events within one transaction's job budget, the same for every store.
///
/// An event whose matching webhooks exceed what is left of the budget gets jobs for the first of
/// them (in id order) and keeps its place (`events.fanout_after`); the next transactions go on
/// from there. Only webhooks that existed when the event was taken in get it (``Subscriber``), so
/// a fan-out spread over several transactions reaches exactly the webhooks one transaction would
/// have. A workspace's webhooks are read a page at a time, so going on with an event that matches
/// thousands reads only the next page, not them all again.
public struct FanOut<Rows: FanOutRows> {
    public var rows: Rows
    /// Jobs this transaction may still make.
    public private(set) var budget: Int
    /// The webhooks of workspaces that have fewer than a page of them, read once per transaction.
    private var small: [String: [Subscriber]] = [:]

    /// Webhooks read at a time.
    public static var pageSize: Int { 1000 }

    public init(rows: Rows, budget: Int) {
        self.rows = rows
        self.budget = budget
    }

    /// Goes on with the fan-outs earlier transactions left unfinished, oldest first.
    public mutating func resume(report: inout IngestReport) throws {
        for (event, after) in try rows.unfinished(limit: 100) where budget > 0 {
            try fanOut(event, after: after, report: &report)
        }
    }

    /// Makes jobs for the webhooks of the event's workspace that match it, after `after` when
    /// going on, as far as the budget goes; notes where it stopped.
    public mutating func fanOut(_ event: FanOutEvent, after: String?, report: inout IngestReport) throws {
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
        if stored != after { try rows.setPosition(stored, of: event) }
    }

    private mutating func subscribers(_ workspaceID: String, after: String?) throws -> [Subscriber] {
        if let all = small[workspaceID] {
            guard let after else { return all }
            return all.filter { $0.id > after }
        }
        let page = try rows.subscribers(workspaceID: workspaceID, after: after, limit: Self.pageSize)
        if after == nil, page.count < Self.pageSize { small[workspaceID] = page }
        return page
    }

    /// Makes one job of `event` for each of `targets` (held for a disabled webhook).
    public mutating func make(_ targets: [Subscriber], for event: FanOutEvent, report: inout IngestReport) throws {
        guard !targets.isEmpty else { return }
        try rows.makeJobs(
            of: event, webhookIDs: targets.map(\.id),
            states: targets.map { DeliveryRules.newJobState(webhookActive: $0.isActive) })
        report.jobs += targets.count
        report.heldJobs += targets.count { !$0.isActive }
        budget -= targets.count
    }
}
