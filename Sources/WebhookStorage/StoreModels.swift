import WebhookCore

/// A job claimed for delivery, with everything needed to send it.
///
/// The texts (URL, secrets, identifiers, payload, headers) live in one shared, immutable box: a
/// claim is copied several times between the claim, the sender and the recorder, and a copy
/// then retains one object instead of ten. Setting one of them makes a new box.
public struct ClaimedJob: Sendable, Hashable {
    public var jobID: Int64
    /// The fencing token of this claim; the result is written only if it still matches.
    public var leaseToken: Int64
    /// The attempt this claim makes (1 for the first).
    public var attempt: Int
    /// When the producer created the event, for end-to-end latency.
    public var eventCreatedAt: Timestamp
    /// Attempts made before the job's current run of attempts (a recovered delivery starts a new
    /// run): the retry schedule applies to `attempt - attemptBase`.
    public var attemptBase: Int
    /// When this claim was made, read inside the claiming transaction.
    public var claimedAt: Timestamp
    /// The webhook's count of consecutive failures when this claim was made (see ``DeliveryRules``).
    public var failuresWhenClaimed: Int
    /// A recovery probe of a disabled webhook: its success enables the webhook again.
    public var isRecoveryProbe: Bool
    /// When ``previousSecret`` stops signing.
    public var previousSecretExpiresAt: Timestamp?
    /// `webhook-timestamp` of the request sent for this claim, set by the sender and logged with
    /// the attempt.
    public var signedAt: Int64?
    /// How many signatures `webhook-signature` carried (two during a rotation's overlap).
    public var signatureCount = 0
    private var texts: TextBox

    public var webhookID: String {
        get { texts.fields.webhookID }
        set { texts = texts.changing { $0.webhookID = newValue } }
    }
    public var url: String {
        get { texts.fields.url }
        set { texts = texts.changing { $0.url = newValue } }
    }
    /// The webhook's signing secret. Never logged.
    public var secret: String {
        get { texts.fields.secret }
        set { texts = texts.changing { $0.secret = newValue } }
    }
    public var eventID: String {
        get { texts.fields.eventID }
        set { texts = texts.changing { $0.eventID = newValue } }
    }
    public var eventType: String {
        get { texts.fields.eventType }
        set { texts = texts.changing { $0.eventType = newValue } }
    }
    /// The exact body to sign and send.
    public var payload: [UInt8] {
        get { texts.fields.payload }
        set { texts = texts.changing { $0.payload = newValue } }
    }
    /// The owner of an earlier claim whose lease ran out before it recorded a result, if any:
    /// that worker died or hung, and this claim takes the job over.
    public var reclaimedFrom: String? {
        get { texts.fields.reclaimedFrom }
        set { texts = texts.changing { $0.reclaimedFrom = newValue } }
    }
    /// The workspace of the webhook, for the operator's log lines.
    public var workspaceID: String {
        get { texts.fields.workspaceID }
        set { texts = texts.changing { $0.workspaceID = newValue } }
    }
    /// The secret the current one replaced, while it is valid. Never logged.
    public var previousSecret: String? {
        get { texts.fields.previousSecret }
        set { texts = texts.changing { $0.previousSecret = newValue } }
    }
    /// The webhook's own request headers. Their values are never logged.
    public var headers: CustomHeaders {
        get { texts.fields.headers }
        set { texts = texts.changing { $0.headers = newValue } }
    }

    /// The secrets of the webhook when it was claimed.
    public var rotation: SecretRotation {
        SecretRotation(current: secret, previous: previousSecret, expiresAt: previousSecretExpiresAt)
    }

    public init(
        jobID: Int64,
        leaseToken: Int64,
        attempt: Int,
        webhookID: String,
        url: String,
        secret: String,
        eventID: String,
        eventType: String,
        payload: [UInt8],
        eventCreatedAt: Timestamp,
        reclaimedFrom: String? = nil,
        workspaceID: String = "",
        attemptBase: Int = 0,
        claimedAt: Timestamp = Timestamp(milliseconds: 0),
        failuresWhenClaimed: Int = 0,
        isRecoveryProbe: Bool = false,
        previousSecret: String? = nil,
        previousSecretExpiresAt: Timestamp? = nil,
        headers: CustomHeaders = CustomHeaders()
    ) {
        self.jobID = jobID
        self.leaseToken = leaseToken
        self.attempt = attempt
        self.eventCreatedAt = eventCreatedAt
        self.attemptBase = attemptBase
        self.claimedAt = claimedAt
        self.failuresWhenClaimed = failuresWhenClaimed
        self.isRecoveryProbe = isRecoveryProbe
        self.previousSecretExpiresAt = previousSecretExpiresAt
        texts = TextBox(
            TextFields(
                webhookID: webhookID, url: url, secret: secret, eventID: eventID, eventType: eventType,
                payload: payload, reclaimedFrom: reclaimedFrom, workspaceID: workspaceID,
                previousSecret: previousSecret, headers: headers))
    }

    /// The reference-counted fields of a claim.
    private struct TextFields: Sendable, Hashable {
        var webhookID: String
        var url: String
        var secret: String
        var eventID: String
        var eventType: String
        var payload: [UInt8]
        var reclaimedFrom: String?
        var workspaceID: String
        var previousSecret: String?
        var headers: CustomHeaders
    }

    /// An immutable box of ``TextFields``, shared by every copy of a claim; equal by contents.
    private final class TextBox: Sendable, Hashable {
        let fields: TextFields

        init(_ fields: TextFields) {
            self.fields = fields
        }

        /// A new box with one change.
        func changing(_ change: (inout TextFields) -> Void) -> TextBox {
            var fields = fields
            change(&fields)
            return TextBox(fields)
        }

        static func == (left: TextBox, right: TextBox) -> Bool {
            left === right || left.fields == right.fields
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(fields)
        }
    }

    /// The attempt as the job rules see it (every store asks ``DeliveryRules`` with this).
    public func ruleAttempt(_ outcome: DeliveryOutcome, finishedAt: Timestamp) -> DeliveryRules.Attempt {
        DeliveryRules.Attempt(
            number: attempt - attemptBase,
            failuresWhenClaimed: failuresWhenClaimed,
            finishedAt: finishedAt,
            outcome: outcome,
            isRecoveryProbe: isRecoveryProbe
        )
    }
}

/// The result of one attempt, to be recorded against its claim.
public struct AttemptResult: Sendable, Hashable {
    public var job: ClaimedJob
    public var outcome: DeliveryOutcome
    /// When the attempt ended.
    public var finishedAt: Timestamp

    public init(job: ClaimedJob, outcome: DeliveryOutcome, finishedAt: Timestamp) {
        self.job = job
        self.outcome = outcome
        self.finishedAt = finishedAt
    }
}

/// What recording a batch of results changed.
public struct RecordReport: Sendable, Hashable {
    /// Attempts written to the log, with their new `whd_` ids, in input order (nil for stale ones).
    public var deliveryIDs: [String?] = []
    /// Results dropped because their lease was lost (another worker took the job).
    public var staleResults: [ClaimedJob] = []
    /// Webhooks disabled by this batch for too many consecutive failures.
    public var disabledWebhooks: [String] = []
    /// What changed for webhooks in this batch (failing, recovered, disabled, enabled), in order.
    public var webhookChanges: [WebhookChange] = []
    /// Failed attempts that counted as failures of their webhook (the others were in flight
    /// when an earlier failure was counted).
    public var countedFailures = 0
    /// Jobs that failed for good in this batch.
    public var finallyFailed: [ClaimedJob] = []

    public init() {}
}

/// A change of a webhook's state caused by an attempt, for the operator's log and metrics.
public struct WebhookChange: Sendable, Hashable {
    public var webhookID: String
    public var workspaceID: String
    public var step: DeliveryRules.WebhookStep
    /// The webhook's circuit after the change.
    public var circuit: WebhookCircuit
    /// When the attempt that caused it ended.
    public var at: Timestamp

    public init(
        webhookID: String, workspaceID: String, step: DeliveryRules.WebhookStep, circuit: WebhookCircuit,
        at: Timestamp
    ) {
        self.webhookID = webhookID
        self.workspaceID = workspaceID
        self.step = step
        self.circuit = circuit
        self.at = at
    }
}

/// What one pass over the outbox did.
public struct IngestReport: Sendable, Hashable {
    /// Events accepted and fanned out.
    public var events: Int = 0
    /// Jobs created by the fan-out.
    public var jobs: Int = 0
    /// Of those, jobs held for disabled webhooks.
    public var heldJobs: Int = 0
    /// Rows whose event id had been seen before; dropped as duplicates.
    public var duplicates: Int = 0
    /// Rows set aside, with their reasons.
    public var rejected: [RejectedEvent] = []
    /// True when the pass stopped early (its rows' data reached the byte budget of one
    /// transaction) and more rows are waiting: take the next batch without waiting.
    public var hasMore = false

    public init() {}

    /// Jobs one ingest transaction makes at most, by default: about 10 ms of the write lock.
    public static let defaultJobLimit = 1000

    /// Whether the pass found any row at all.
    public var isEmpty: Bool { events == 0 && duplicates == 0 && rejected.isEmpty }
}

/// An outbox row set aside, with the reason.
public struct RejectedEvent: Sendable, Hashable {
    public var sequence: Int64
    public var eventID: String?
    public var workspaceID: String?
    public var type: String?
    public var reason: String
    public var createdAt: Timestamp
    public var rejectedAt: Timestamp

    public init(
        sequence: Int64,
        eventID: String?,
        workspaceID: String?,
        type: String?,
        reason: String,
        createdAt: Timestamp,
        rejectedAt: Timestamp
    ) {
        self.sequence = sequence
        self.eventID = eventID
        self.workspaceID = workspaceID
        self.type = type
        self.reason = reason
        self.createdAt = createdAt
        self.rejectedAt = rejectedAt
    }
}

/// One row of the delivery log.
public struct DeliveryAttempt: Sendable, Hashable {
    /// `whd_` id.
    public var id: String
    public var webhookID: String
    public var eventID: String
    public var eventType: String
    public var attempt: Int
    public var succeeded: Bool
    public var statusCode: Int?
    public var responseTimeMs: Int
    public var failure: FailureClass?
    public var responseExcerpt: String
    /// When the next attempt of this job is scheduled, if this one failed and another follows.
    public var nextRetryAt: Timestamp?
    public var createdAt: Timestamp
    /// libcurl's timings of the attempt.
    public var timings: TransferTimings = .none
    /// The IP address the attempt connected to, when it got that far.
    public var remoteAddress: String?
    /// `webhook-timestamp` of the request; nil for attempts logged before it was kept.
    public var signedAt: Int64?
    /// How many signatures `webhook-signature` carried.
    public var signatureCount = 1
    /// The names of the webhook's own headers sent with the attempt.
    public var headerNames: [String] = []

    public init(
        id: String,
        webhookID: String,
        eventID: String,
        eventType: String,
        attempt: Int,
        succeeded: Bool,
        statusCode: Int?,
        responseTimeMs: Int,
        failure: FailureClass?,
        responseExcerpt: String,
        nextRetryAt: Timestamp?,
        createdAt: Timestamp
    ) {
        self.id = id
        self.webhookID = webhookID
        self.eventID = eventID
        self.eventType = eventType
        self.attempt = attempt
        self.succeeded = succeeded
        self.statusCode = statusCode
        self.responseTimeMs = responseTimeMs
        self.failure = failure
        self.responseExcerpt = responseExcerpt
        self.nextRetryAt = nextRetryAt
        self.createdAt = createdAt
    }
}

/// Filters and position for reading the delivery log, newest first.
public struct DeliveryQuery: Sendable, Hashable {
    public var webhookID: String
    /// Only this workspace's webhook; `nil` for operators' tools.
    public var workspaceID: String?
    public var limit: Int
    /// Continue after this `whd_` id (exclusive), going older.
    public var startingAfter: String?
    /// Only successes (`true`) or failures (`false`).
    public var succeeded: Bool?
    public var eventType: String?
    /// Only attempts for this event.
    public var eventID: String?

    public init(
        webhookID: String,
        workspaceID: String? = nil,
        limit: Int = 50,
        startingAfter: String? = nil,
        succeeded: Bool? = nil,
        eventType: String? = nil
    ) {
        self.webhookID = webhookID
        self.workspaceID = workspaceID
        self.limit = limit
        self.startingAfter = startingAfter
        self.succeeded = succeeded
        self.eventType = eventType
    }
}

/// A page of a list and whether more follow.
public struct Page<Element: Sendable & Hashable>: Sendable, Hashable {
    public var items: [Element]
    public var hasMore: Bool

    public init(items: [Element], hasMore: Bool) {
        self.items = items
        self.hasMore = hasMore
    }
}

/// The state of the queue, for `status`, metrics and the service status line.
public struct QueueStats: Sendable, Hashable {
    /// Outbox rows not yet taken in.
    public var outboxBacklog: Int = 0
    /// Jobs waiting for an attempt (due now or later), not counting those in flight.
    public var pending: Int = 0
    /// Pending jobs whose time has come.
    public var due: Int = 0
    /// Jobs claimed under a live lease.
    public var inFlight: Int = 0
    /// Age of the oldest due job, in milliseconds (0 when none is due).
    public var oldestDueAgeMs: Int64 = 0
    /// Deliveries held for disabled webhooks, sent when they are enabled again.
    public var held: Int = 0
    /// Webhooks whose circuit is open: their last attempt failed, their queue waits for a probe.
    public var failingWebhooks: Int = 0
    public var delivered: Int = 0
    public var failed: Int = 0
    public var rejectedEvents: Int = 0
    public var activeWebhooks: Int = 0
    public var disabledWebhooks: Int = 0

    public init() {}
}

/// What to claim: up to `limit` due jobs for `owner`, leased for `lease` from `now`.
public struct ClaimRequest: Sendable, Hashable {
    public var owner: String
    public var limit: Int
    /// Live claims one webhook may have, counting every owner's: a webhook not in
    /// `webhookLimits` is allowed this many.
    public var perWebhookLimit: Int
    /// The limits of webhooks that differ from `perWebhookLimit`, by webhook id: each webhook's
    /// adaptive limit (``ConcurrencyLimits``) as this process sees it.
    public var webhookLimits: [String: Int]
    public var lease: Duration
    /// The time the request was made for. The claim reads the clock again inside its transaction
    /// (`now` plus the time since `madeAt`), so a claim that waited for the write lock still
    /// leases for the whole `lease` from when it was actually made.
    public var now: Timestamp
    public var madeAt: ContinuousClock.Instant

    public init(
        owner: String, limit: Int, perWebhookLimit: Int, webhookLimits: [String: Int] = [:], lease: Duration,
        now: Timestamp, madeAt: ContinuousClock.Instant = .now
    ) {
        self.owner = owner
        self.limit = limit
        self.perWebhookLimit = perWebhookLimit
        self.webhookLimits = webhookLimits
        self.lease = lease
        self.now = now
        self.madeAt = madeAt
    }

    /// `now` advanced by the time since the request was made: the claim's clock, read inside its
    /// transaction.
    public var nowInTransaction: Timestamp {
        let elapsed = ContinuousClock.now - madeAt
        return now.adding(milliseconds: max(0, elapsed.inMilliseconds))
    }
}

/// A workspace API key as stored: never the key itself, only its hash and its public prefix.
public struct APIKey: Sendable, Hashable {
    /// The public id, `key_` and 20 random characters.
    public var id: String
    /// The workspace whose webhooks the key reaches; no other.
    public var workspaceID: String
    /// The key's first characters (`qr3k_` and 8 more), to tell keys apart.
    public var prefix: String
    /// A label chosen by the operator, possibly empty.
    public var name: String
    public var createdAt: Timestamp
    /// When the key was revoked; a revoked key is refused.
    public var revokedAt: Timestamp?

    public init(
        id: String, workspaceID: String, prefix: String, name: String, createdAt: Timestamp, revokedAt: Timestamp?
    ) {
        self.id = id
        self.workspaceID = workspaceID
        self.prefix = prefix
        self.name = name
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

/// What is stored for a new API key: the workspace, a label, and the key's prefix and hash.
public struct NewAPIKey: Sendable, Hashable {
    public var workspaceID: String
    public var name: String
    /// ``APIKeyMaterial/prefix`` of the new key.
    public var prefix: String
    /// ``APIKeyMaterial/hash`` of the new key.
    public var hash: String

    public init(workspaceID: String, name: String, material: APIKeyMaterial) {
        self.workspaceID = workspaceID
        self.name = name
        self.prefix = material.prefix
        self.hash = material.hash
    }
}

/// The work of one round of the delivery loop; see ``WebhookStore/advance(_:)``.
public struct DeliveryRound: Sendable {
    /// Finished attempts to record first (their claims free per-webhook capacity).
    public var results: [AttemptResult] = []
    /// What the recorded attempts do to their jobs and webhooks.
    public var rules: DeliveryRules
    /// Outbox rows to take in, if any are waiting.
    public var ingest: Ingest?
    /// Due jobs to claim, after the ingest.
    public var claim: ClaimRequest?

    public init(rules: DeliveryRules) {
        self.rules = rules
    }

    public init(policy: RetryPolicy, disableAfter: Int) {
        self.init(rules: DeliveryRules(retryPolicy: policy, disableAfter: disableAfter))
    }

    /// How many outbox rows to take in, checked by `validator`, making at most `jobLimit` jobs.
    public struct Ingest: Sendable {
        public var limit: Int
        public var jobLimit: Int
        public var validator: OutboxValidator
        public var now: Timestamp

        public init(
            limit: Int, jobLimit: Int = IngestReport.defaultJobLimit, validator: OutboxValidator, now: Timestamp
        ) {
            self.limit = limit
            self.jobLimit = jobLimit
            self.validator = validator
            self.now = now
        }
    }

    /// What a round did.
    public struct Report: Sendable {
        public var recorded = RecordReport()
        public var ingested = IngestReport()
        public var claimed: [ClaimedJob] = []

        public init() {}
    }
}

/// A window of a webhook's events to deliver again; see ``WebhookStore/recover(_:)``.
public struct RecoveryRequest: Sendable, Hashable {
    public var webhookID: String
    /// Only this workspace's webhook; `nil` for operators' tools.
    public var workspaceID: String?
    /// Events created at or after this time...
    public var since: Timestamp
    /// ...and before this one.
    public var until: Timestamp
    /// Count what would be queued, queue nothing.
    public var dryRun: Bool
    public var now: Timestamp

    public init(
        webhookID: String, workspaceID: String?, since: Timestamp, until: Timestamp, dryRun: Bool, now: Timestamp
    ) {
        self.webhookID = webhookID
        self.workspaceID = workspaceID
        self.since = since
        self.until = until
        self.dryRun = dryRun
        self.now = now
    }
}

/// What a recovery queued (or, for a dry run, would queue).
public struct RecoveryReport: Sendable, Hashable {
    /// Deliveries that had failed for good, queued for a fresh run of attempts.
    public var failed = 0
    /// Events of the webhook that never got a delivery (taken in while it did not receive them).
    public var neverMade = 0
    /// True when the webhook is disabled: the deliveries are queued as held, sent when it is enabled.
    public var held = false

    public init() {}

    /// Deliveries queued in all.
    public var total: Int { failed + neverMade }

    /// The report as the API and the CLI show it.
    public func representation(dryRun: Bool) -> RecoveryRepresentation {
        RecoveryRepresentation(failed: failed, neverMade: neverMade, held: held, dryRun: dryRun)
    }
}

/// A recovery probe queued for a disabled webhook.
public struct RecoveryProbe: Sendable, Hashable {
    public var webhookID: String
    public var workspaceID: String
    /// The `webhook.ping` event sent as the probe.
    public var eventID: String

    public init(webhookID: String, workspaceID: String, eventID: String) {
        self.webhookID = webhookID
        self.workspaceID = workspaceID
        self.eventID = eventID
    }
}

/// What retention removes: see ``WebhookStore/prune(_:)``.
public struct PruneRequest: Sendable, Hashable {
    /// Attempts, finished jobs (delivered, failed for good, cancelled), events no job needs and
    /// rejected outbox rows older than this go.
    public var cutoff: Timestamp
    /// Held deliveries (of disabled webhooks) last changed before this go.
    public var heldCutoff: Timestamp
    /// Count, remove nothing.
    public var dryRun: Bool

    public init(cutoff: Timestamp, heldCutoff: Timestamp, dryRun: Bool = false) {
        self.cutoff = cutoff
        self.heldCutoff = heldCutoff
        self.dryRun = dryRun
    }

    /// Everything older than `retention` at `now`, held deliveries older than `heldRetention`.
    public init(now: Timestamp, retention: Duration, heldRetention: Duration, dryRun: Bool = false) {
        self.init(
            cutoff: now.adding(milliseconds: -retention.inMilliseconds),
            heldCutoff: now.adding(milliseconds: -heldRetention.inMilliseconds),
            dryRun: dryRun)
    }
}

/// What a prune removed (or, for a dry run, would remove).
public struct PruneReport: Sendable, Hashable {
    public var attempts = 0
    /// Finished jobs: delivered, failed for good, cancelled.
    public var jobs = 0
    /// Held deliveries past their retention.
    public var heldJobs = 0
    public var events = 0
    public var rejectedRows = 0

    public init() {}

    /// Rows removed in all.
    public var total: Int { attempts + jobs + heldJobs + events + rejectedRows }
}

/// How much the database holds, for `status` and disk sizing.
public struct StorageReport: Sendable, Hashable {
    /// The database's size on disk in bytes (for SQLite, the file and its WAL).
    public var bytes: Int64 = 0
    /// Of those, the write-ahead log's.
    public var walBytes: Int64 = 0
    /// Bytes in pages that are free for reuse (removed rows leave them; new rows fill them first).
    public var freeBytes: Int64 = 0
    /// When the oldest event still kept was taken in.
    public var oldestEvent: Timestamp?
    /// Rows per table, in a fixed order.
    public var rows: [(table: String, count: Int)] = []

    public init() {}

    public static func == (lhs: StorageReport, rhs: StorageReport) -> Bool {
        lhs.bytes == rhs.bytes && lhs.walBytes == rhs.walBytes && lhs.freeBytes == rhs.freeBytes
            && lhs.oldestEvent == rhs.oldestEvent && lhs.rows.map(\.table) == rhs.rows.map(\.table)
            && lhs.rows.map(\.count) == rhs.rows.map(\.count)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(bytes)
        hasher.combine(rows.map(\.count))
    }
}
