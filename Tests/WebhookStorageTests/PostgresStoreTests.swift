import Testing
import WebhookCore
@testable import WebhookPostgres
import WebhookStorage
import WebhookTestSupport

/// A fresh database on the shared test cluster, with the store under test and plain SQL with
/// parameters (the tests of what both stores do use ``TestDatabase``).
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

/// What only the PostgreSQL store has: callers on connections of their own racing as daemons on
/// several hosts would (the workspace limit's advisory lock, recovery probes), the id columns'
/// collation, array parameters and the prune's walk in batches. The behaviour both stores share is
/// tested for both in `JobTests`, `IngestTests`, `HeldQueueTests`, `RetentionTests` and
/// `WebhookTests`.
@Suite("PostgreSQL store")
struct PostgresStoreTests {
    let t0 = Timestamp(milliseconds: 1_000_000_000)

    /// The limit itself is in `RetentionTests`, for both backends; here creations race on
    /// connections of their own, which the store serialises per workspace with an advisory lock.
    @Test func aWorkspaceHasAtMostItsLimitOfWebhooksEvenWhenCreatedAtOnce() async throws {
        let database = try await PostgresTestDatabase.make()
        defer { database.close() }
        let new = NewWebhook(
            workspaceID: "ws_1", url: "https://example.com/h", events: try EventSubscription(validating: ["*"]),
            secret: "a-secret-of-sixteen-chars")
        // Eight creations at once (each on a connection of its own): three pass.
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

    /// Four "hosts" (stores with pools of their own) claim one webhook's jobs at once: its limit
    /// counts every host's leases, so never more than the limit are in flight, and no job is
    /// claimed twice.
    @Test func theInFlightLimitOfAWebhookHoldsAcrossHostsClaimingAtOnce() async throws {
        let t0 = Timestamp(milliseconds: 10_000)
        let database = try await PostgresTestDatabase.make()
        defer { database.close() }
        _ = try await database.webhook()
        for index in 0..<200 {
            _ = try await database.store.enqueue(
                OutboxRow(
                    sequence: 0, eventID: "evt_\(index)", workspaceID: "ws_1", type: "qr.scanned",
                    data: Array(#"{"code_id":"qr_1"}"#.utf8), createdAt: Timestamp(milliseconds: 1_000)))
        }
        for _ in 0..<10 {
            let report = try await database.store.ingest(limit: 1000, validator: OutboxValidator(), now: t0)
            if report.events == 0, !report.hasMore { break }
        }
        let url = database.store.location.url
        var hosts: [PostgresWebhookStore] = []
        for _ in 0..<4 { hosts.append(try await PostgresWebhookStore(location: PostgresLocation(url: url))) }
        defer { for host in hosts { host.close() } }
        let claimed = try await withThrowingTaskGroup(of: [ClaimedJob].self) { group in
            for (index, host) in hosts.enumerated() {
                group.addTask {
                    var mine: [ClaimedJob] = []
                    for _ in 0..<20 {
                        mine += try await host.claim(
                            owner: "host-\(index)", limit: 3, perWebhookLimit: 5, lease: .seconds(60), now: t0)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(claimed.count == 5)
        #expect(Set(claimed.map(\.jobID)).count == claimed.count)
        #expect(try await database.count("SELECT count(*) FROM jobs WHERE lease_owner IS NOT NULL") == 5)
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
        let read = try await database.strings("SELECT unnest($1::text[])", [.texts(values)])
        #expect(read == values)
        #expect(
            try await database.count("SELECT sum(v) FROM unnest($1::bigint[]) AS v", [.ints([1, -2, 40])]) == 39)
    }
}
