import Testing
import WebhookCore
@testable import WebhookPostgres
import WebhookStorage
import WebhookTestSupport

/// A fresh database on the shared test cluster, with the store under test and plain SQL for the
/// rows the store's own ingest and claim would make.
struct PostgresTestDatabase {
    let store: PostgresWebhookStore

    static func make() async throws -> PostgresTestDatabase {
        let server = try await PostgresTestServer.shared()
        let url = try await server.createDatabase()
        return PostgresTestDatabase(store: try await PostgresWebhookStore(location: PostgresLocation(url: url)))
    }

    /// Runs `sql` in a transaction of its own.
    func execute(_ sql: String, _ parameters: [PostgresValue] = []) async throws {
        try await store.write { connection in _ = try connection.query(sql, parameters) }
    }

    /// The first column of the first row of `sql`, as an integer.
    func count(_ sql: String, _ parameters: [PostgresValue] = []) async throws -> Int {
        try await store.read { connection in try connection.query(sql, parameters).int(0, 0) }
    }

    /// The first column of `sql`'s rows, as text.
    func strings(_ sql: String, _ parameters: [PostgresValue] = []) async throws -> [String] {
        try await store.read { connection in
            let rows = try connection.query(sql, parameters)
            return (0..<rows.count).map { rows.string($0, 0) }
        }
    }

    func webhook(
        workspace: String = "ws_1", events: [String] = ["*"], headers: CustomHeaders = CustomHeaders(),
        now: Timestamp = Timestamp(milliseconds: 1_000)
    ) async throws -> Webhook {
        try await store.createWebhook(
            NewWebhook(
                workspaceID: workspace, url: "http://127.0.0.1:9/hook",
                events: try EventSubscription(validating: events),
                secret: "a-secret-of-sixteen-chars", headers: headers),
            now: now, limit: nil)
    }

    /// An event taken in at `at`, as the ingest stores it.
    @discardableResult
    func event(workspace: String = "ws_1", type: String = "qr.scanned", at: Timestamp) async throws -> String {
        let id = Identifier.makeOrdered(Identifier.event, at: at)
        try await execute(
            """
            INSERT INTO events (id, workspace_id, type, payload, created_at, dispatched_at)
            VALUES ($1, $2, $3, '{}', $4, $4)
            """,
            [.text(id), .text(workspace), .text(type), .time(at)])
        return id
    }

    /// A job of `webhookID` for `eventID`; returns its id.
    @discardableResult
    func job(
        event eventID: String, webhook webhookID: String, state: String = "pending", attempts: Int = 0,
        leasedBy owner: String? = nil, probe: Bool = false, at: Timestamp
    ) async throws -> Int64 {
        try await store.write { connection in
            try connection.query(
                """
                INSERT INTO jobs (event_id, webhook_id, state, attempts, lease_owner, lease_expires_at, probe,
                    available_at, created_at, updated_at)
                VALUES ($1, $2, $3, $4, $5, CASE WHEN $5::text IS NULL THEN NULL ELSE $6::bigint + 30000 END,
                    $7::smallint, $6, $6, $6)
                RETURNING id
                """,
                [
                    .text(eventID), .text(webhookID), .text(state), .int(Int64(attempts)), .text(owner), .time(at),
                    .int(probe ? 1 : 0),
                ]
            ).int64(0, 0)
        }
    }

    /// An attempt in the delivery log, its id ordered by `at`.
    @discardableResult
    func attempt(
        webhook webhookID: String, event eventID: String, type: String = "qr.scanned", succeeded: Bool = true,
        at: Timestamp
    ) async throws -> String {
        let id = Identifier.makeOrdered(Identifier.delivery, at: at)
        try await execute(
            """
            INSERT INTO attempts (id, job_id, webhook_id, event_id, event_type, attempt, status, status_code,
                response_time_ms, failure_class, created_at, header_names)
            VALUES ($1, 0, $2, $3, $4, 1, $5, $6, 12, $7, $8, '["x-one"]')
            """,
            [
                .text(id), .text(webhookID), .text(eventID), .text(type), .text(succeeded ? "success" : "failed"),
                .int(succeeded ? 200 : 500), .text(succeeded ? nil : "http_status"), .time(at),
            ])
        return id
    }

    func close() { store.close() }
}

/// The PostgreSQL store against a real server: what the SQLite tests assert of the same calls.
@Suite("PostgreSQL store")
struct PostgresStoreTests {
    let t0 = Timestamp(milliseconds: 1_000_000_000)

    @Test func webhooksAreCreatedListedByPagesAndSeenOnlyByTheirWorkspace() async throws {
        let database = try await PostgresTestDatabase.make()
        defer { database.close() }
        let first = try await database.webhook(workspace: "ws_1")
        let second = try await database.webhook(workspace: "ws_1")
        let other = try await database.webhook(workspace: "ws_2")
        let read = try #require(try await database.store.webhook(id: first.id, workspaceID: "ws_1"))
        #expect(read == first)
        #expect(try await database.store.webhook(id: first.id, workspaceID: "ws_2") == nil)
        #expect(try await database.store.webhook(id: "wh_missing", workspaceID: nil) == nil)

        let ids = [first.id, second.id].sorted()
        let page = try await database.store.listWebhooks(workspaceID: "ws_1", limit: 1, startingAfter: nil)
        #expect(page.items.map(\.id) == [ids[0]] && page.hasMore)
        let next = try await database.store.listWebhooks(workspaceID: "ws_1", limit: 1, startingAfter: ids[0])
        #expect(next.items.map(\.id) == [ids[1]] && !next.hasMore)
        let all = try await database.store.listWebhooks(workspaceID: nil, limit: 10, startingAfter: nil)
        #expect(all.items.map(\.id) == [first.id, second.id, other.id].sorted() && !all.hasMore)
    }

    @Test func anUpdateChangesWhatItNamesAndASecretSetOutrightEndsTheOverlap() async throws {
        let database = try await PostgresTestDatabase.make()
        defer { database.close() }
        let hook = try await database.webhook(
            headers: CustomHeaders([CustomHeaders.Header(name: "x-one", value: "1")]), now: t0)
        #expect(hook.headers.headers.count == 1)
        let rotated = try #require(
            try await database.store.rotateSecret(
                id: hook.id, workspaceID: "ws_1", to: "another-secret-of-16", overlapSeconds: 60,
                now: t0.adding(seconds: 1)))
        #expect(rotated.secret == "another-secret-of-16")
        #expect(rotated.previousSecret == hook.secret)
        #expect(rotated.previousSecretExpiresAt == t0.adding(seconds: 61))
        #expect(
            try await database.store.rotateSecret(
                id: hook.id, workspaceID: "ws_2", to: "another-secret-of-16", overlapSeconds: 60, now: t0) == nil)

        let updated = try #require(
            try await database.store.updateWebhook(
                id: hook.id, workspaceID: "ws_1",
                changes: WebhookChanges(
                    url: "https://example.com/new", events: try EventSubscription(validating: ["qr.created"]),
                    secret: "a-third-secret-of-16", headers: CustomHeaders()),
                now: t0.adding(seconds: 2)))
        #expect(updated.url == "https://example.com/new")
        #expect(updated.events.names == ["qr.created"])
        #expect(updated.secret == "a-third-secret-of-16" && updated.previousSecret == nil)
        #expect(updated.headers.isEmpty)
        #expect(updated.updatedAt == t0.adding(seconds: 2) && updated.createdAt == t0)
        #expect(
            try await database.store.updateWebhook(
                id: hook.id, workspaceID: "ws_2", changes: WebhookChanges(url: "https://x.example"), now: t0) == nil)
    }

    @Test func aWorkspaceHasAtMostItsLimitOfWebhooksEvenWhenCreatedAtOnce() async throws {
        let database = try await PostgresTestDatabase.make()
        defer { database.close() }
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

        // Eight creations at once in a third workspace (each on a connection of its own): three pass.
        var racing = new
        racing.workspaceID = "ws_3"
        let store = database.store
        let created = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask { [racing, t0] in (try? await store.createWebhook(racing, now: t0, limit: 3)) != nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(created == 3)
        #expect(try await database.count("SELECT COUNT(*) FROM webhooks WHERE workspace_id = 'ws_3'") == 3)
    }

    @Test func disablingHoldsQueuedJobsAndEnablingReleasesThemDueNowWithTheCircuitClosed() async throws {
        let database = try await PostgresTestDatabase.make()
        defer { database.close() }
        let hook = try await database.webhook(now: t0)
        let queued = try await database.job(event: try await database.event(at: t0), webhook: hook.id, at: t0)
        let inFlight = try await database.job(
            event: try await database.event(at: t0), webhook: hook.id, leasedBy: "w", at: t0)
        let probe = try await database.job(
            event: try await database.event(at: t0), webhook: hook.id, probe: true, at: t0)
        try await database.execute(
            "UPDATE webhooks SET consecutive_failures = 3, failing_since = $2, last_failure_at = $2 WHERE id = $1",
            [.text(hook.id), .time(t0)])

        let disabled = try #require(
            try await database.store.updateWebhook(
                id: hook.id, workspaceID: nil, changes: WebhookChanges(isActive: false), now: t0.adding(seconds: 1)))
        #expect(!disabled.isActive && disabled.disabledReason == "disabled by hand")
        #expect(disabled.disabledAt == t0.adding(seconds: 1))
        #expect(disabled.heldDeliveries == 1, "the job in flight and the probe are not held")
        func state(_ id: Int64) async throws -> [String] {
            try await database.strings("SELECT state FROM jobs WHERE id = $1", [.int(id)])
        }
        #expect(try await state(queued) == ["paused"])
        #expect(try await state(inFlight) == ["pending"])
        #expect(try await state(probe) == ["pending"])
        #expect(
            try await database.strings("SELECT disabled_by FROM webhooks WHERE id = $1", [.text(hook.id)])
                == ["operator"])
        let troubled = try await database.store.troubledWebhooks(limit: 10)
        #expect(troubled.map(\.id) == [hook.id])
        let stats = try await database.store.stats(now: t0.adding(seconds: 1), includingTotals: false)
        #expect(stats.held == 1 && stats.disabledWebhooks == 1 && stats.activeWebhooks == 0)

        let enabled = try #require(
            try await database.store.updateWebhook(
                id: hook.id, workspaceID: nil, changes: WebhookChanges(isActive: true), now: t0.adding(seconds: 5)))
        #expect(enabled.isActive && enabled.disabledReason == nil && enabled.disabledAt == nil)
        #expect(enabled.consecutiveFailures == 0 && !enabled.circuit.isOpen)
        #expect(enabled.heldDeliveries == 0)
        #expect(try await state(queued) == ["pending"])
        #expect(
            try await database.count("SELECT available_at FROM jobs WHERE id = $1", [.int(queued)])
                == Int(t0.adding(seconds: 5).milliseconds))
        #expect(try await database.store.troubledWebhooks(limit: 10).isEmpty)
    }

    @Test func aWebhookWithThousandsOfJobsIsDisabledEnabledAndDeletedABatchAtATime() async throws {
        let database = try await PostgresTestDatabase.make()
        defer { database.close() }
        let hook = try await database.webhook(now: t0)
        try await database.execute(
            """
            INSERT INTO jobs (event_id, webhook_id, available_at, created_at, updated_at)
            SELECT 'evt_' || n, $1, $2, $2, $2 FROM generate_series(1, 2500) AS n
            """,
            [.text(hook.id), .time(t0)])
        func count(_ state: String) async throws -> Int {
            try await database.count("SELECT COUNT(*) FROM jobs WHERE state = $1", [.text(state)])
        }
        _ = try await database.store.updateWebhook(
            id: hook.id, workspaceID: nil, changes: WebhookChanges(isActive: false), now: t0)
        #expect(try await count("paused") == 1000)
        #expect(try await database.count("SELECT jobs_to_settle FROM webhooks") == 1)
        try await database.store.maintain()
        #expect(try await count("paused") == 2500)
        #expect(try await database.count("SELECT jobs_to_settle FROM webhooks") == 0)
        // Enabling releases a thousand at once; the housekeeping releases the rest.
        _ = try await database.store.updateWebhook(
            id: hook.id, workspaceID: nil, changes: WebhookChanges(isActive: true), now: t0)
        #expect(try await count("paused") == 1500)
        #expect(try await database.store.settleWebhookJobs() == 2)
        #expect(try await count("paused") == 0)
        #expect(try await database.count("SELECT jobs_to_settle FROM webhooks") == 0)
        // Deleting cancels a thousand at once, the rest in the housekeeping.
        #expect(try await database.store.deleteWebhook(id: hook.id, workspaceID: nil, now: t0))
        #expect(try await count("cancelled") == 1000)
        try await database.store.maintain()
        #expect(try await database.count("SELECT COUNT(*) FROM jobs WHERE state <> 'cancelled'") == 0)
    }

    @Test func aDeletedWebhookIsGoneItsSecretOverwrittenAndItsJobsCancelled() async throws {
        let database = try await PostgresTestDatabase.make()
        defer { database.close() }
        let hook = try await database.webhook(headers: CustomHeaders([CustomHeaders.Header(name: "x-a", value: "b")]))
        _ = try await database.store.rotateSecret(
            id: hook.id, workspaceID: nil, to: "another-secret-of-16", overlapSeconds: 60, now: t0)
        try await database.job(event: try await database.event(at: t0), webhook: hook.id, at: t0)
        #expect(try await !database.store.deleteWebhook(id: hook.id, workspaceID: "ws_2", now: t0))
        #expect(try await database.store.deleteWebhook(id: hook.id, workspaceID: "ws_1", now: t0))
        #expect(try await !database.store.deleteWebhook(id: hook.id, workspaceID: nil, now: t0))
        #expect(try await database.store.webhook(id: hook.id, workspaceID: nil) == nil)
        #expect(try await database.store.listWebhooks(workspaceID: nil, limit: 10, startingAfter: nil).items.isEmpty)
        let stored = try await database.strings("SELECT secret FROM webhooks WHERE id = $1", [.text(hook.id)])
        #expect(stored.count == 1 && stored[0] != hook.secret && stored[0].count == 64)
        #expect(
            try await database.strings(
                "SELECT COALESCE(headers, '') || COALESCE(previous_secret, '') FROM webhooks WHERE id = $1",
                [.text(hook.id)]) == [""],
            "no custom header value or previous secret is kept")
        #expect(try await database.strings("SELECT state FROM jobs") == ["cancelled"])
    }

    @Test func apiKeysAreFoundByHashListedOldestFirstAndRevokedOnce() async throws {
        let database = try await PostgresTestDatabase.make()
        defer { database.close() }
        let firstMaterial = APIKeyMaterial.generate()
        let first = try await database.store.createAPIKey(
            NewAPIKey(workspaceID: "ws_1", name: "ci", material: firstMaterial), now: t0)
        let second = try await database.store.createAPIKey(
            NewAPIKey(workspaceID: "ws_2", name: "", material: APIKeyMaterial.generate()), now: t0.adding(seconds: 1))
        #expect(first.id.hasPrefix("key_") && first.revokedAt == nil)
        #expect(try await database.store.activeAPIKey(hash: firstMaterial.hash) == first)
        #expect(try await database.store.listAPIKeys(workspaceID: nil) == [first, second])
        #expect(try await database.store.listAPIKeys(workspaceID: "ws_2") == [second])

        let revoked = try #require(
            try await database.store.revokeAPIKey(idOrPrefix: first.prefix, now: t0.adding(seconds: 2)))
        #expect(revoked.revokedAt == t0.adding(seconds: 2))
        let again = try await database.store.revokeAPIKey(idOrPrefix: first.id, now: t0.adding(seconds: 9))
        #expect(again?.revokedAt == t0.adding(seconds: 2), "revoking twice changes nothing")
        #expect(try await database.store.activeAPIKey(hash: firstMaterial.hash) == nil)
        #expect(try await database.store.revokeAPIKey(idOrPrefix: "key_missing", now: t0) == nil)
    }

    @Test func theDeliveryLogIsReadNewestFirstByPagesAndFilters() async throws {
        let database = try await PostgresTestDatabase.make()
        defer { database.close() }
        let hook = try await database.webhook()
        let other = try await database.webhook(workspace: "ws_2")
        let event = try await database.event(at: t0)
        var ids: [String] = []
        for index in 0..<5 {
            ids.append(
                try await database.attempt(
                    webhook: hook.id, event: index == 4 ? "evt_other" : event,
                    type: index == 3 ? "qr.created" : "qr.scanned", succeeded: index % 2 == 0,
                    at: t0.adding(seconds: Double(index))))
        }
        try await database.attempt(webhook: other.id, event: event, at: t0)
        let newestFirst = Array(ids.reversed())
        let page = try await database.store.deliveries(DeliveryQuery(webhookID: hook.id, limit: 2))
        #expect(page.items.map(\.id) == Array(newestFirst[0..<2]) && page.hasMore)
        let next = try await database.store.deliveries(
            DeliveryQuery(webhookID: hook.id, limit: 2, startingAfter: newestFirst[1]))
        #expect(next.items.map(\.id) == Array(newestFirst[2..<4]) && next.hasMore)
        let last = try await database.store.deliveries(
            DeliveryQuery(webhookID: hook.id, limit: 2, startingAfter: newestFirst[3]))
        #expect(last.items.map(\.id) == [newestFirst[4]] && !last.hasMore)
        await #expect(throws: StoreQueryError.self) {
            _ = try await database.store.deliveries(DeliveryQuery(webhookID: hook.id, startingAfter: "whd_unknown"))
        }
        let failures = try await database.store.deliveries(DeliveryQuery(webhookID: hook.id, succeeded: false))
        #expect(failures.items.map(\.id) == [ids[3], ids[1]])
        #expect(failures.items.allSatisfy { $0.failure == .httpStatus && $0.statusCode == 500 })
        let created = try await database.store.deliveries(DeliveryQuery(webhookID: hook.id, eventType: "qr.created"))
        #expect(created.items.map(\.id) == [ids[3]])
        var byEvent = DeliveryQuery(webhookID: hook.id)
        byEvent.eventID = "evt_other"
        #expect(try await database.store.deliveries(byEvent).items.map(\.id) == [ids[4]])
        #expect(
            try await database.store.deliveries(DeliveryQuery(webhookID: hook.id, workspaceID: "ws_2")).items.isEmpty)

        let one = try #require(try await database.store.delivery(id: ids[0], webhookID: hook.id, workspaceID: "ws_1"))
        #expect(one.succeeded && one.statusCode == 200 && one.responseTimeMs == 12 && one.failure == nil)
        #expect(one.headerNames == ["x-one"] && one.signatureCount == 1 && one.createdAt == t0)
        #expect(try await database.store.delivery(id: ids[0], webhookID: hook.id, workspaceID: "ws_2") == nil)
        #expect(try await database.store.delivery(id: ids[0], webhookID: other.id, workspaceID: nil) == nil)
    }

    @Test func figuresCountEachStateOnce() async throws {
        let database = try await PostgresTestDatabase.make()
        defer { database.close() }
        let hook = try await database.webhook()
        let disabled = try await database.webhook()
        _ = try await database.store.updateWebhook(
            id: disabled.id, workspaceID: nil, changes: WebhookChanges(isActive: false), now: t0)
        let now = t0.adding(seconds: 100)
        try await database.job(event: try await database.event(at: t0), webhook: hook.id, at: t0)  // due, 100 s old
        try await database.job(event: try await database.event(at: t0), webhook: hook.id, at: now.adding(seconds: 5))
        try await database.job(event: try await database.event(at: t0), webhook: hook.id, leasedBy: "w", at: now)
        try await database.job(
            event: try await database.event(at: t0), webhook: hook.id, leasedBy: "w", at: t0)  // lease ran out
        try await database.job(event: try await database.event(at: t0), webhook: hook.id, state: "delivered", at: t0)
        try await database.job(event: try await database.event(at: t0), webhook: hook.id, state: "failed", at: t0)
        try await database.job(event: try await database.event(at: t0), webhook: disabled.id, state: "paused", at: t0)
        try await database.execute("UPDATE webhooks SET consecutive_failures = 2 WHERE id = $1", [.text(hook.id)])
        try await database.execute(
            "INSERT INTO outbox (workspace_id, type, data) VALUES ('ws_1', 'qr.scanned', '{}')")
        try await database.execute(
            """
            INSERT INTO rejected_events (seq, created_at, rejected_at, reason) VALUES (1, 0, 0, 'bad')
            """)
        let stats = try await database.store.stats(now: now, includingTotals: true)
        #expect(stats.outboxBacklog == 1)
        #expect(stats.pending == 3 && stats.due == 2 && stats.inFlight == 1)
        #expect(stats.oldestDueAgeMs == 100_000)
        #expect(stats.held == 1 && stats.failingWebhooks == 1)
        #expect(stats.delivered == 1 && stats.failed == 1)
        #expect(stats.rejectedEvents == 1 && stats.activeWebhooks == 1 && stats.disabledWebhooks == 1)
        let cheap = try await database.store.stats(now: now, includingTotals: false)
        #expect(cheap.delivered == 0 && cheap.pending == 3)
    }

    @Test func storageReportCountsRowsAndTheOldestEvent() async throws {
        let database = try await PostgresTestDatabase.make()
        defer { database.close() }
        let hook = try await database.webhook()
        try await database.job(event: try await database.event(at: t0.adding(seconds: 5)), webhook: hook.id, at: t0)
        try await database.event(at: t0)
        let report = try await database.store.storageReport()
        #expect(report.bytes > 0)
        #expect(report.oldestEvent == t0)
        #expect(report.rows.map(\.table) == PostgresWebhookStore.reportedTables)
        #expect(report.rows.first { $0.table == "jobs" }?.count == 1)
        #expect(report.rows.first { $0.table == "events" }?.count == 2)
        #expect(report.rows.first { $0.table == "webhooks" }?.count == 1)
    }

    @Test func pruneRemovesWhatIsOlderThanTheRetentionAndNothingElse() async throws {
        let database = try await PostgresTestDatabase.make()
        defer { database.close() }
        let hook = try await database.webhook(now: t0)
        let disabled = try await database.webhook(now: t0)
        // Old: two events delivered and failed for good a day ago, both also held for the disabled
        // webhook; an old rejected row.
        let old = [try await database.event(at: t0), try await database.event(at: t0)]
        try await database.job(event: old[0], webhook: hook.id, state: "delivered", at: t0)
        try await database.job(event: old[1], webhook: hook.id, state: "failed", at: t0)
        for event in old { try await database.job(event: event, webhook: disabled.id, state: "paused", at: t0) }
        try await database.attempt(webhook: hook.id, event: old[0], at: t0)
        try await database.attempt(webhook: hook.id, event: old[1], succeeded: false, at: t0)
        // An old event no job needs.
        try await database.event(at: t0)
        try await database.execute(
            "INSERT INTO rejected_events (seq, created_at, rejected_at, reason) VALUES (1, $1, $1, 'bad')", [.time(t0)])
        // Young: an hour before now, one delivered and one still pending.
        let now = t0.adding(seconds: 86_400)
        let young = try await database.event(at: now.adding(seconds: -3600))
        try await database.job(event: young, webhook: hook.id, state: "failed", at: now.adding(seconds: -3600))
        try await database.attempt(webhook: hook.id, event: young, succeeded: false, at: now.adding(seconds: -3600))
        let pending = try await database.event(at: now.adding(seconds: -60))
        try await database.job(event: pending, webhook: hook.id, at: now.adding(seconds: -60))

        // Keep 12 hours; held deliveries two days.
        let request = PruneRequest(now: now, retention: .seconds(12 * 3600), heldRetention: .seconds(2 * 86_400))
        var dry = request
        dry.dryRun = true
        let preview = try await database.store.prune(dry)
        #expect(try await database.count("SELECT COUNT(*) FROM jobs") == 6, "a dry run removes nothing")
        let report = try await database.store.prune(request)
        #expect(report == preview, "the dry run counts what the run removes")
        #expect(report.attempts == 2 && report.jobs == 2 && report.heldJobs == 0)
        #expect(report.rejectedRows == 1)
        // The old events keep their rows while a held job of the disabled webhook needs them.
        #expect(report.events == 1)
        #expect(try await database.count("SELECT COUNT(*) FROM attempts") == 1)
        #expect(try await database.count("SELECT COUNT(*) FROM jobs WHERE state = 'paused'") == 2)
        let log = try await database.store.deliveries(DeliveryQuery(webhookID: hook.id))
        #expect(log.items.count == 1, "the young attempt is still in the delivery log")

        // Two days later the held deliveries go too, and with them the events no job needs; the
        // pending one stays.
        let later = PruneRequest(
            now: now.adding(seconds: 2 * 86_400), retention: .seconds(12 * 3600), heldRetention: .seconds(2 * 86_400))
        var laterDry = later
        laterDry.dryRun = true
        let secondPreview = try await database.store.prune(laterDry)
        let second = try await database.store.prune(later)
        #expect(second == secondPreview)
        #expect(second.heldJobs == 2)
        #expect(second.jobs == 1 && second.attempts == 1)
        #expect(second.events == 3)
        #expect(try await database.strings("SELECT id FROM events") == [pending])
        #expect(try await database.count("SELECT COUNT(*) FROM jobs WHERE state = 'pending'") == 1)
        #expect(try await database.store.prune(later).total == 0, "nothing left to remove")
    }

    @Test func pruneWalksMoreRowsThanOneBatch() async throws {
        let database = try await PostgresTestDatabase.make()
        defer { database.close() }
        let hook = try await database.webhook(now: t0)
        try await database.execute(
            """
            INSERT INTO events (id, workspace_id, type, payload, created_at, dispatched_at)
            SELECT 'evt_' || lpad(n::text, 5, '0'), 'ws_1', 'qr.scanned', '{}', $1, $1::bigint + n
            FROM generate_series(1, 1200) AS n
            """,
            [.time(t0)])
        try await database.execute(
            """
            INSERT INTO jobs (event_id, webhook_id, state, available_at, created_at, updated_at)
            SELECT 'evt_' || lpad(n::text, 5, '0'), $2, 'delivered', $1, $1, $1 FROM generate_series(1, 1100) AS n
            """,
            [.time(t0), .text(hook.id)])
        let report = try await database.store.prune(
            PruneRequest(cutoff: t0.adding(seconds: 3600), heldCutoff: t0.adding(seconds: 3600)))
        #expect(report.jobs == 1100 && report.events == 1200)
        #expect(try await database.count("SELECT COUNT(*) FROM events") == 0)
    }

    @Test func recoverQueuesFailedAndNeverMadeDeliveriesOnce() async throws {
        let database = try await PostgresTestDatabase.make()
        defer { database.close() }
        let hook = try await database.webhook(events: ["qr.created"], now: t0)
        // Taken in before the webhook existed: never queued by a recovery.
        try await database.event(type: "qr.created", at: t0.adding(seconds: -1))
        // An event the webhook did not subscribe to when it was taken in: never made for it.
        let scanned = try await database.event(type: "qr.scanned", at: t0.adding(seconds: 1))
        // Two events whose deliveries failed for good (one attempt each), one delivered.
        for second in [2.0, 3.0] {
            try await database.job(
                event: try await database.event(type: "qr.created", at: t0.adding(seconds: second)),
                webhook: hook.id, state: "failed", attempts: 1, at: t0.adding(seconds: second))
        }
        try await database.job(
            event: try await database.event(type: "qr.created", at: t0.adding(seconds: 4)), webhook: hook.id,
            state: "delivered", attempts: 1, at: t0)
        // A ping, and one event outside the window.
        try await database.event(type: "webhook.ping", at: t0.adding(seconds: 5))
        try await database.event(type: "qr.created", at: t0.adding(seconds: 100))
        // Another workspace's event.
        try await database.event(workspace: "ws_2", type: "qr.created", at: t0.adding(seconds: 6))
        let now = t0.adding(seconds: 200)
        _ = try await database.store.updateWebhook(
            id: hook.id, workspaceID: nil, changes: WebhookChanges(events: try EventSubscription(validating: ["*"])),
            now: now)
        func recover(dryRun: Bool, workspace: String? = "ws_1") async throws -> RecoveryReport? {
            try await database.store.recover(
                RecoveryRequest(
                    webhookID: hook.id, workspaceID: workspace, since: t0.adding(seconds: -10),
                    until: t0.adding(seconds: 50), dryRun: dryRun, now: now))
        }
        let preview = try #require(try await recover(dryRun: true))
        #expect(preview.failed == 2 && preview.neverMade == 1 && !preview.held)
        #expect(
            try await database.count("SELECT COUNT(*) FROM jobs WHERE state = 'failed'") == 2,
            "a dry run changes nothing")
        let done = try #require(try await recover(dryRun: false))
        #expect(done == preview)
        #expect(try await recover(dryRun: false)?.total == 0, "running it twice queues nothing twice")
        #expect(try await recover(dryRun: false, workspace: "ws_2") == nil)
        // The recovered deliveries start a new run of attempts at the attempts so far.
        #expect(
            try await database.count(
                "SELECT COUNT(*) FROM jobs WHERE state = 'pending' AND attempt_base = 1 AND available_at = $1",
                [.time(now)]) == 2)
        #expect(
            try await database.strings("SELECT state FROM jobs WHERE event_id = $1", [.text(scanned)]) == ["pending"])
    }

    @Test func aRecoveryOfADisabledWebhookIsHeldUntilItIsEnabled() async throws {
        let database = try await PostgresTestDatabase.make()
        defer { database.close() }
        let hook = try await database.webhook(now: t0)
        try await database.job(
            event: try await database.event(at: t0.adding(seconds: 1)), webhook: hook.id, state: "failed", attempts: 1,
            at: t0.adding(seconds: 1))
        _ = try await database.store.updateWebhook(
            id: hook.id, workspaceID: nil, changes: WebhookChanges(isActive: false), now: t0.adding(seconds: 3))
        let report = try #require(
            try await database.store.recover(
                RecoveryRequest(
                    webhookID: hook.id, workspaceID: nil, since: t0, until: t0.adding(seconds: 10), dryRun: false,
                    now: t0.adding(seconds: 4))))
        #expect(report.failed == 1 && report.held)
        #expect(try await database.store.webhook(id: hook.id, workspaceID: nil)?.heldDeliveries == 1)
        let enabled = try await database.store.updateWebhook(
            id: hook.id, workspaceID: nil, changes: WebhookChanges(isActive: true), now: t0.adding(seconds: 5))
        #expect(enabled?.heldDeliveries == 0)
        #expect(try await database.strings("SELECT state FROM jobs") == ["pending"])
    }

    @Test func recoveryProbesGoOnlyToWebhooksDisabledByFailuresOncePerInterval() async throws {
        let database = try await PostgresTestDatabase.make()
        defer { database.close() }
        let failing = try await database.webhook(now: t0)
        let byHand = try await database.webhook(now: t0)
        _ = try await database.store.updateWebhook(
            id: byHand.id, workspaceID: nil, changes: WebhookChanges(isActive: false), now: t0)
        try await database.store.write { connection in
            try PostgresWebhookStore.deactivate(
                connection, webhookID: failing.id, reason: .consecutiveFailures(count: 10, since: t0), now: t0)
        }
        let disabled = try #require(try await database.store.webhook(id: failing.id, workspaceID: nil))
        #expect(disabled.disabledReason == "10 consecutive failed attempts over under a minute")
        #expect(
            try await database.store.queueRecoveryProbes(interval: .seconds(60), now: t0.adding(seconds: 59)).isEmpty)
        // Two daemons at once: one probe.
        let store = database.store
        let due = t0.adding(seconds: 60)
        async let one = store.queueRecoveryProbes(interval: .seconds(60), now: due)
        async let two = store.queueRecoveryProbes(interval: .seconds(60), now: due)
        let probes = try await one + two
        #expect(probes.map(\.webhookID) == [failing.id])
        #expect(probes.first?.workspaceID == "ws_1")
        #expect(
            try await database.store.queueRecoveryProbes(interval: .seconds(60), now: t0.adding(seconds: 119)).isEmpty)
        let payload = try await database.strings(
            "SELECT payload FROM events WHERE id = $1 AND type = 'webhook.ping'", [.text(probes[0].eventID)])
        #expect(payload.count == 1 && payload[0].contains(failing.id))
        #expect(
            try await database.count(
                "SELECT COUNT(*) FROM jobs WHERE probe = 1 AND state = 'pending' AND webhook_id = $1",
                [.text(failing.id)]) == 1)
        #expect(
            try await database.store.queueRecoveryProbes(interval: .seconds(60), now: t0.adding(seconds: 120)).count
                == 1)
    }

    @Test func aRetryMakesOneJobDueNowUnlessTheWebhookIsDisabled() async throws {
        let database = try await PostgresTestDatabase.make()
        defer { database.close() }
        let hook = try await database.webhook(now: t0)
        let failed = try await database.event(at: t0)
        let job = try await database.job(event: failed, webhook: hook.id, state: "failed", attempts: 3, at: t0)
        let inFlight = try await database.event(at: t0)
        try await database.job(event: inFlight, webhook: hook.id, leasedBy: "w", at: t0)
        let now = t0.adding(seconds: 10)
        #expect(try await !database.store.retryJob(webhookID: hook.id, eventID: failed, workspaceID: "ws_2", now: now))
        #expect(try await !database.store.retryJob(webhookID: hook.id, eventID: "evt_none", workspaceID: nil, now: now))
        #expect(try await database.store.retryJob(webhookID: hook.id, eventID: failed, workspaceID: "ws_1", now: now))
        #expect(
            try await database.strings("SELECT state || ' ' || available_at FROM jobs WHERE id = $1", [.int(job)])
                == ["pending \(now.milliseconds)"])
        #expect(
            try await database.store.retryJob(webhookID: hook.id, eventID: inFlight, workspaceID: nil, now: now),
            "a job in flight is being sent, which is what was asked")
        _ = try await database.store.updateWebhook(
            id: hook.id, workspaceID: nil, changes: WebhookChanges(isActive: false), now: now)
        #expect(try await !database.store.retryJob(webhookID: hook.id, eventID: failed, workspaceID: nil, now: now))
    }

    @Test func timeOrderedIdsSortByTimeInADatabaseWhoseCollationIsNotC() async throws {
        // ICU's en-US puts "a" before "Z"; base 62 in ASCII order needs "Z" before "a". The id
        // columns are COLLATE "C", so the log and retention follow time whatever the locale.
        let server = try await PostgresTestServer.shared()
        let name = "qr3_icu_\(UInt32.random(in: 0...UInt32.max))"
        try await server.psql(
            "CREATE DATABASE \(name) TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'")
        let store = try await PostgresWebhookStore(location: PostgresLocation(url: server.url(database: name)))
        defer { store.close() }
        let database = PostgresTestDatabase(store: store)
        #expect(try await database.count("SELECT ('Z' < 'a')::int") == 0, "the database's own order is not C's")
        let hook = try await database.webhook()
        var ids: [String] = []
        // A millisecond apart: the last time character runs through 0-9, A-Z and a-z.
        for step in 0..<62 {
            ids.append(
                try await database.attempt(webhook: hook.id, event: "evt_1", at: t0.adding(milliseconds: Int64(step))))
        }
        let log = try await store.deliveries(DeliveryQuery(webhookID: hook.id, limit: 100))
        #expect(log.items.map(\.id) == ids.reversed())
        let pruned = try await store.prune(
            PruneRequest(cutoff: t0.adding(milliseconds: 36), heldCutoff: t0, dryRun: false))
        #expect(pruned.attempts == 36)
        #expect(try await database.strings("SELECT id FROM attempts ORDER BY id") == Array(ids[36...]))
    }

    @Test func arraysOfAnyTextAreBoundAsTheyAre() async throws {
        let database = try await PostgresTestDatabase.make()
        defer { database.close() }
        let values = ["plain", "with,comma", #"quote""#, #"back\slash"#, "{brace}", "", "NULL", "sp ace", "é"]
        let read = try await database.strings("SELECT unnest($1::text[])", [.textArray(values)])
        #expect(read == values)
        #expect(
            try await database.count("SELECT sum(v) FROM unnest($1::bigint[]) AS v", [.intArray([1, -2, 40])]) == 39)
    }
}
