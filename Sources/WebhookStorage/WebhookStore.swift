import Logging
import WebhookCore

/// Everything the daemon, the API and the CLI need from storage.
///
/// This protocol is the seam between the daemon and its database: the SQLite implementation is
/// in the WebhookSQLite target; a PostgreSQL one (claims with `FOR UPDATE SKIP LOCKED`) fills
/// the same contract. `WebhookStores.open` picks one from the
/// `database` setting; nothing else names a concrete store. Every write is one transaction.
/// Workspace-scoped calls treat a webhook of another workspace exactly like a missing one.
public protocol WebhookStore: DeliveryStore {
    // MARK: Webhooks

    /// Stores a new webhook (already validated) and returns it with its new id; throws
    /// ``WebhookLimitReached`` when its workspace already has `limit` webhooks.
    func createWebhook(_ webhook: NewWebhook, now: Timestamp, limit: Int?) async throws -> Webhook
    /// The webhook `id`, if it exists, is not deleted and belongs to `workspaceID` (any when nil).
    func webhook(id: String, workspaceID: String?) async throws -> Webhook?
    /// Webhooks ordered by id, after `startingAfter` (exclusive).
    func listWebhooks(workspaceID: String?, limit: Int, startingAfter: String?) async throws -> Page<Webhook>
    /// Applies `changes`; enabling closes the circuit and makes the held jobs due, oldest first.
    func updateWebhook(id: String, workspaceID: String?, changes: WebhookChanges, now: Timestamp) async throws
        -> Webhook?
    /// Makes `newSecret` the webhook's secret, the one in force now staying valid (deliveries signed
    /// with both) for `overlapSeconds`, 0 for none; see ``SecretRotation``. Nil when there is no
    /// such webhook.
    func rotateSecret(id: String, workspaceID: String?, to newSecret: String, overlapSeconds: Int, now: Timestamp)
        async throws -> Webhook?
    /// Deletes the webhook; its queued jobs are cancelled. False when there was no such webhook.
    func deleteWebhook(id: String, workspaceID: String?, now: Timestamp) async throws -> Bool

    // MARK: Events

    /// Adds an event to the outbox, as a producer's INSERT would. Returns the outbox sequence.
    func enqueue(_ row: OutboxRow) async throws -> Int64
    /// Takes up to `limit` outbox rows in order, in one transaction that makes at most about
    /// `jobLimit` jobs: valid rows are fanned out to matching webhooks (an event matching more
    /// webhooks than that goes on in the next transactions), invalid ones set aside with a reason.
    func ingest(limit: Int, jobLimit: Int, validator: OutboxValidator, now: Timestamp) async throws -> IngestReport
    /// Adds an event to the outbox unless its `eventID` is already known (still in the outbox or
    /// taken in before). Returns the outbox sequence, or nil for a duplicate, which is left alone.
    func enqueueIfNew(_ row: OutboxRow) async throws -> Int64?
    /// Outbox rows set aside, newest first.
    func rejectedEvents(limit: Int) async throws -> [RejectedEvent]

    // MARK: Jobs
    // (The delivery loop's own calls, `advance`, `release`, `nextDueTime`, `hasOutboxRows` and
    // `fault(of:)`, are ``DeliveryStore``'s.)

    /// Claims up to `limit` due jobs for `owner` under a lease until `now + lease`, taking at most
    /// `perWebhookLimit` jobs in flight per webhook (counting live claims of every owner).
    func claim(owner: String, limit: Int, perWebhookLimit: Int, lease: Duration, now: Timestamp) async throws
        -> [ClaimedJob]
    /// Records attempts: the log, each job's next state and each webhook's circuit and state, as
    /// `rules` decide, in one transaction. Results whose lease token no longer matches are dropped
    /// and reported stale.
    func record(_ results: [AttemptResult], rules: DeliveryRules) async throws -> RecordReport
    /// Makes one job of `webhookID` for `eventID` due now again (a manual retry).
    /// Returns false when there is no such job in that workspace, or the webhook is disabled.
    func retryJob(webhookID: String, eventID: String, workspaceID: String?, now: Timestamp) async throws -> Bool

    /// Queues one fresh delivery of every event of a webhook in a window that failed for good or
    /// was never made (held when the webhook is disabled). Running it again queues nothing twice:
    /// what it queued is pending, no longer failed or missing. Nil when there is no such webhook.
    func recover(_ request: RecoveryRequest) async throws -> RecoveryReport?
    /// Queues a `webhook.ping` recovery probe for each webhook disabled by failures (or a 410) at
    /// least `interval` ago and not probed within `interval`; a 2xx answer enables it again.
    func queueRecoveryProbes(interval: Duration, now: Timestamp) async throws -> [RecoveryProbe]

    /// Removes what retention no longer keeps, in small transactions of a few milliseconds each:
    /// attempts, finished jobs and rejected outbox rows older than the cutoff, held deliveries
    /// older than the held cutoff, and events no job needs any more. Freed pages are reused.
    func prune(_ request: PruneRequest) async throws -> PruneReport

    // MARK: Reading

    /// Webhooks that need an operator's eye: failing (circuit open) or disabled, longest first.
    func troubledWebhooks(limit: Int) async throws -> [Webhook]

    /// The delivery log of one webhook, newest first.
    func deliveries(_ query: DeliveryQuery) async throws -> Page<DeliveryAttempt>
    /// One attempt by its `whd_` id, within the webhook (and workspace, when given).
    func delivery(id: String, webhookID: String, workspaceID: String?) async throws -> DeliveryAttempt?
    /// Housekeeping the daemon runs a few times a second, off the delivery path (for SQLite,
    /// filing the delivery log's tail by webhook and a passive WAL checkpoint).
    func maintain() async throws
    /// Counts for `status`, metrics and the service status line.
    ///
    /// `includingTotals` adds the delivered and failed totals, which take a pass over every job
    /// ever made: for `status`, not for the figures the daemon refreshes every few seconds.
    func stats(now: Timestamp, includingTotals: Bool) async throws -> QueueStats
    /// The database's size, its oldest kept event and its rows per table (a count of every
    /// table: for `status`, not for figures refreshed every few seconds).
    func storageReport() async throws -> StorageReport
    /// Returns when the database answers a trivial query; throws otherwise (for health checks).
    func checkHealth() async throws
    /// The schema version the database is at: once opened, the latest this build knows.
    var schemaVersion: Int { get }
    /// How many writes found the database held by another writer past the store's wait and were
    /// tried again, since the store opened: a running total, for the metrics.
    var contendedWrites: Int { get }

    // MARK: Change notification

    /// A watch that calls `onChange` when there may be new work (an outbox row, a job another
    /// process made due), so the daemon need not wait for its poll interval. The daemon runs it
    /// as a service; see ``StoreChangeWatch``.
    func watchChanges(onChange: @escaping @Sendable () -> Void, logger: Logger) -> any StoreChangeWatch

    // MARK: API keys

    /// Stores a new key (its hash and prefix only) and returns it with its new `key_` id.
    func createAPIKey(_ key: NewAPIKey, now: Timestamp) async throws -> APIKey
    /// The key whose hash is `hash`, if it exists and is not revoked.
    func activeAPIKey(hash: String) async throws -> APIKey?
    /// Keys, revoked ones included, oldest first; only `workspaceID`'s when given.
    func listAPIKeys(workspaceID: String?) async throws -> [APIKey]
    /// Revokes the key whose id or prefix is `idOrPrefix` (revoking twice changes nothing).
    /// Returns the key, or nil when no key has that id or prefix.
    func revokeAPIKey(idOrPrefix: String, now: Timestamp) async throws -> APIKey?
}

extension WebhookStore {
    /// Stores a new webhook, however many its workspace has (the command line's operators).
    public func createWebhook(_ webhook: NewWebhook, now: Timestamp) async throws -> Webhook {
        try await createWebhook(webhook, now: now, limit: nil)
    }

    /// Takes in up to `limit` outbox rows making at most ``IngestReport/defaultJobLimit`` jobs.
    public func ingest(limit: Int, validator: OutboxValidator, now: Timestamp) async throws -> IngestReport {
        try await ingest(limit: limit, jobLimit: IngestReport.defaultJobLimit, validator: validator, now: now)
    }

    /// Records attempts under `policy`, disabling a webhook after `disableAfter` counted failures.
    public func record(_ results: [AttemptResult], policy: RetryPolicy, disableAfter: Int) async throws
        -> RecordReport
    {
        try await record(results, rules: DeliveryRules(retryPolicy: policy, disableAfter: disableAfter))
    }

    /// The queue figures without the delivered and failed totals (cheap at any table size).
    public func stats(now: Timestamp) async throws -> QueueStats {
        try await stats(now: now, includingTotals: false)
    }
}
