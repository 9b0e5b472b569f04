import Synchronization
import WebhookTestSupport
import Testing
import WebhookCore
import WebhookSQLite
import WebhookStorage

/// Bounded storage: retention removes what is old and nothing else, fan-out is spread over short
/// transactions, a workspace's webhooks are limited.
@Suite struct RetentionTests {
    let t0 = Timestamp(milliseconds: 1_000_000_000)

    /// Delivers (or fails) every due job at `now`.
    func settle(_ database: TestDatabase, at now: Timestamp, outcome: DeliveryOutcome) async throws {
        let jobs = try await database.store.claim(
            owner: "t", limit: 1000, perWebhookLimit: 1000, lease: .seconds(30), now: now)
        _ = try await database.store.record(
            jobs.map { AttemptResult(job: $0, outcome: outcome, finishedAt: now) },
            rules: DeliveryRules(retryPolicy: RetryPolicy(schedule: [0])))
    }

    @Test(arguments: Backend.allCases)
    func pruneRemovesWhatIsOlderThanTheRetentionAndNothingElse(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let hook = try await database.webhook(now: t0)
        let disabled = try await database.webhook(now: t0)
        _ = try await database.store.updateWebhook(
            id: disabled.id, workspaceID: nil, changes: WebhookChanges(isActive: false), now: t0)
        // Old: two events delivered or failed for good a day ago, one held for the disabled webhook.
        try await database.emit(at: t0)
        try await database.emit(at: t0)
        _ = try await database.ingest(now: t0)
        try await settle(database, at: t0.adding(seconds: 1), outcome: .ok)
        try await database.emit(type: "not.a.type", at: t0)
        _ = try await database.ingest(now: t0.adding(seconds: 2))
        // Young: an hour before now, one delivered and one still pending.
        let now = t0.adding(seconds: 86_400)
        try await database.emit(at: now.adding(seconds: -3600))
        _ = try await database.ingest(now: now.adding(seconds: -3600))
        try await settle(database, at: now.adding(seconds: -3600), outcome: .serverError)
        try await database.emit(at: now.adding(seconds: -60))
        _ = try await database.ingest(now: now.adding(seconds: -60))
        #expect(try await database.scalar("SELECT COUNT(*) FROM attempts") == 3)
        // SQLite writes attempts to a tail table and files them into `attempt_log`; PostgreSQL has
        // the one table.
        if let sqlite = database.sqlite { #expect(try await sqlite.foldAttemptLog() == 3) }

        // Keep 12 hours; held deliveries two days.
        let request = PruneRequest(now: now, retention: .seconds(12 * 3600), heldRetention: .seconds(2 * 86_400))
        var dry = request
        dry.dryRun = true
        let preview = try await database.store.prune(dry)
        #expect(try await database.scalar("SELECT COUNT(*) FROM jobs") == 8, "a dry run removes nothing")
        let report = try await database.store.prune(request)
        #expect(report == preview, "the dry run counts what the run removes")
        #expect(report.attempts == 2 && report.jobs == 2 && report.heldJobs == 0)
        #expect(report.rejectedRows == 1)
        // The old events keep their rows while a held job of the disabled webhook needs them.
        #expect(report.events == 0)
        #expect(try await database.scalar("SELECT COUNT(*) FROM attempts") == 1)
        if database.backend == .sqlite {
            #expect(try await database.scalar("SELECT COUNT(*) FROM attempt_log") == 1)
        }
        #expect(try await database.scalar("SELECT COUNT(*) FROM jobs WHERE state = 'paused'") == 4)
        #expect(try await database.scalar("SELECT COUNT(*) FROM jobs WHERE state <> 'paused'") == 2)
        let log = try await database.store.deliveries(DeliveryQuery(webhookID: hook.id))
        #expect(log.items.count == 1, "the young attempt is still in the delivery log")

        // Two days later the held deliveries go too, and with them the events no job needs; the
        // pending one stays.
        let later = PruneRequest(
            now: now.adding(seconds: 2 * 86_400), retention: .seconds(12 * 3600), heldRetention: .seconds(2 * 86_400))
        let second = try await database.store.prune(later)
        #expect(second.heldJobs == 4)
        #expect(second.jobs == 1 && second.attempts == 1)
        #expect(second.events == 3)
        #expect(try await database.scalar("SELECT COUNT(*) FROM events") == 1)
        #expect(try await database.scalar("SELECT COUNT(*) FROM jobs WHERE state = 'pending'") == 1)
        #expect(try await database.store.prune(later).total == 0, "nothing left to remove")
    }

    @Test(arguments: Backend.allCases)
    func aFanOutToMoreWebhooksThanOneTransactionMakesGoesOnInTheNext(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        var ids: Set<String> = []
        for _ in 0..<25 { ids.insert(try await database.webhook(now: t0).id) }
        try await database.emit()
        func ingest(_ jobs: Int) async throws -> IngestReport {
            try await database.store.ingest(limit: 100, jobLimit: jobs, validator: OutboxValidator(), now: t0)
        }
        let first = try await ingest(10)
        #expect(first.events == 1 && first.jobs == 10 && first.hasMore)
        #expect(try await database.store.hasOutboxRows(), "an unfinished fan-out is work to do")
        // A webhook made after the event was taken in does not get it.
        _ = try await database.webhook(now: t0.adding(seconds: 1))
        let second = try await ingest(10)
        #expect(second.events == 0 && second.jobs == 10 && second.hasMore)
        let third = try await ingest(10)
        #expect(third.jobs == 5)
        #expect(try await !database.store.hasOutboxRows())
        let jobs = try await database.store.claim(
            owner: "t", limit: 100, perWebhookLimit: 10, lease: .seconds(5), now: t0)
        #expect(Set(jobs.map(\.webhookID)) == ids, "each webhook of the event's time exactly once")
        #expect(jobs.count == 25)
    }

    @Test(arguments: Backend.allCases)
    func aWorkspaceHasAtMostItsLimitOfWebhooks(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let new = NewWebhook(
            workspaceID: "ws_1", url: "https://example.com/h", events: try EventSubscription(validating: ["*"]),
            secret: "a-secret-of-sixteen-chars")
        _ = try await database.store.createWebhook(new, now: t0, limit: 2)
        let second = try await database.store.createWebhook(new, now: t0, limit: 2)
        await #expect(throws: WebhookLimitReached.self) {
            _ = try await database.store.createWebhook(new, now: t0, limit: 2)
        }
        // Another workspace has its own count; a deleted webhook frees its place.
        var other = new
        other.workspaceID = "ws_2"
        _ = try await database.store.createWebhook(other, now: t0, limit: 2)
        _ = try await database.store.deleteWebhook(id: second.id, workspaceID: nil, now: t0)
        _ = try await database.store.createWebhook(new, now: t0, limit: 2)
    }

    @Test(arguments: Backend.allCases)
    func aDeletedWebhooksSecretIsOverwritten(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let hook = try await database.webhook()
        _ = try await database.store.deleteWebhook(id: hook.id, workspaceID: nil, now: t0)
        let stored = try await database.strings("SELECT secret FROM webhooks WHERE id = '\(hook.id)'")
        #expect(stored.count == 1 && stored.first != hook.secret)
        #expect(stored.first?.count == 64)
        let kept = try await database.strings(
            "SELECT COALESCE(headers, '') || COALESCE(previous_secret, '') FROM webhooks WHERE id = '\(hook.id)'")
        #expect(kept == [""], "no custom header value or previous secret is kept")
    }

    @Test(arguments: Backend.allCases)
    func storageReportCountsRowsAndTheOldestEvent(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        _ = try await database.webhook()
        try await database.emit()
        _ = try await database.ingest(now: t0)
        let report = try await database.store.storageReport()
        #expect(report.bytes > 0)
        #expect(report.oldestEvent == t0)
        #expect(report.rows.first { $0.table == "jobs" }?.count == 1)
        #expect(report.rows.first { $0.table == "webhooks" }?.count == 1)
    }
}

/// What a user is told succeeded is committed with `synchronous = FULL`; the daemon's own
/// rounds keep `NORMAL`.
///
/// SQLite only: it traces SQLite's pragmas. PostgreSQL's counterpart (`synchronous_commit`) is a
/// setting of the connections, not something a statement trace of the store shows.
@Suite struct DurableWriteTests {
    @Test func userWritesCommitFullySynchronousAndTheDaemonsDoNot() async throws {
        let directory = try TemporaryDirectory(prefix: "qr3-durable")
        defer { directory.remove() }
        let statements = Mutex<[String]>([])
        var options = SQLiteWebhookStore.Options()
        options.traceStatements = { sql in statements.withLock { $0.append(sql) } }
        let store = try SQLiteWebhookStore(path: directory.file("db.sqlite"), options: options)
        func traced(_ body: () async throws -> Void) async rethrows -> [String] {
            statements.withLock { $0.removeAll() }
            try await body()
            return statements.withLock { $0 }
        }
        let created = try await traced {
            _ = try await store.createWebhook(
                NewWebhook(
                    workspaceID: "ws_1", url: "https://example.com/h",
                    events: try EventSubscription(validating: ["*"]), secret: "a-secret-of-sixteen-chars"),
                now: .now())
        }
        let insert = try #require(created.firstIndex { $0.hasPrefix("INSERT INTO webhooks") })
        let full = try #require(created.firstIndex { $0 == "PRAGMA synchronous = FULL" })
        let commit = try #require(created.lastIndex { $0 == "COMMIT TRANSACTION" })
        let back = try #require(created.lastIndex { $0 == "PRAGMA synchronous = NORMAL" })
        #expect(full < insert && insert < commit && commit < back, "\(created)")
        // A delivery round (ingest, claim, record) stays NORMAL.
        _ = try await store.enqueue(
            OutboxRow(
                sequence: 0, eventID: nil, workspaceID: "ws_1", type: "qr.scanned", data: Array("{}".utf8),
                createdAt: .now()))
        let round = try await traced {
            _ = try await store.ingest(limit: 10, validator: OutboxValidator(), now: .now())
        }
        #expect(!round.contains("PRAGMA synchronous = FULL"), "\(round)")
    }
}
