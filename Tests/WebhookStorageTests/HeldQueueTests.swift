import Testing
import WebhookCore
import WebhookStorage

/// The store applies the job rules: a failing webhook's queue waits behind its circuit, a disabled
/// webhook's events are held and it is sent nothing, recovery, per-workspace event ids, leases.
@Suite struct HeldQueueTests {
    let t0 = Timestamp(milliseconds: 10_000_000)
    let refused = DeliveryOutcome(statusCode: nil, responseTimeMs: 1, failure: .connect)

    func claim(_ database: TestDatabase, at now: Timestamp, limit: Int = 100, lease: Duration = .seconds(30))
        async throws -> [ClaimedJob]
    {
        try await database.store.claim(owner: "a", limit: limit, perWebhookLimit: 16, lease: lease, now: now)
    }

    func record(_ database: TestDatabase, _ jobs: [ClaimedJob], _ outcome: DeliveryOutcome, at now: Timestamp)
        async throws -> RecordReport
    {
        try await database.store.record(
            jobs.map { AttemptResult(job: $0, outcome: outcome, finishedAt: now) }, rules: DeliveryRules())
    }

    @Test(arguments: Backend.allCases)
    func aFailingWebhooksQueueWaitsForOneProbeAtATimeAndFlowsAgainAfterASuccess(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let hook = try await database.webhook()
        for _ in 0..<20 { try await database.emit() }
        _ = try await database.ingest(now: t0)
        // Four requests go out together and all fail: one failure, not four.
        let burst = try await claim(database, at: t0, limit: 4)
        #expect(burst.count == 4)
        let report = try await record(database, burst, refused, at: t0.adding(milliseconds: 50))
        #expect(report.countedFailures == 1)
        #expect(report.webhookChanges.map(\.step) == [.startedFailing])
        var webhook = try #require(try await database.store.webhook(id: hook.id, workspaceID: nil))
        #expect(webhook.consecutiveFailures == 1)
        #expect(webhook.circuit.pausedUntil == t0.adding(milliseconds: 50).adding(seconds: 60))
        // The other sixteen jobs wait: nothing is claimed before the probe's time, and they keep
        // their attempts.
        #expect(try await claim(database, at: t0.adding(seconds: 59)).isEmpty)
        #expect(try await database.scalar("SELECT COUNT(*) FROM jobs WHERE attempts = 0 AND state = 'pending'") == 16)
        // Then one probe, the oldest due job, whose failure counts and pauses again.
        let probeTime = t0.adding(seconds: 61)
        let probe = try await claim(database, at: probeTime)
        #expect(probe.count == 1)
        #expect(probe.first?.attempt == 1, "a job that waited makes its own first attempt")
        #expect(try await claim(database, at: probeTime).isEmpty, "one probe at a time")
        _ = try await record(database, probe, refused, at: probeTime.adding(milliseconds: 10))
        webhook = try #require(try await database.store.webhook(id: hook.id, workspaceID: nil))
        #expect(webhook.consecutiveFailures == 2)
        #expect(webhook.circuit.pausedUntil == probeTime.adding(milliseconds: 10).adding(seconds: 300))
        // The next probe succeeds: the circuit closes and the queue flows at full concurrency.
        let recovered = probeTime.adding(seconds: 301)
        let second = try await claim(database, at: recovered)
        #expect(second.count == 1)
        let closing = try await record(database, second, .ok, at: recovered)
        #expect(closing.webhookChanges.map(\.step) == [.recovered(failures: 2, since: t0.adding(milliseconds: 50))])
        let flowing = try await claim(database, at: recovered.adding(milliseconds: 1))
        #expect(flowing.count == 16, "the per-webhook limit again, every due job including the four retries")
        #expect(try await database.store.stats(now: recovered).failingWebhooks == 0)
    }

    @Test(arguments: Backend.allCases)
    func aDisabledWebhookIsSentNothingWhateverPathAJobTakes(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let hook = try await database.webhook()
        for _ in 0..<3 { try await database.emit() }
        _ = try await database.ingest(now: t0)
        let inFlight = try await claim(database, at: t0, lease: .seconds(30))
        #expect(inFlight.count == 3)
        _ = try await database.store.updateWebhook(
            id: hook.id, workspaceID: nil, changes: WebhookChanges(isActive: false), now: t0.adding(seconds: 1))
        // A claim whose lease ran out while the webhook was disabled is held, not sent.
        let expired = try await claim(database, at: t0.adding(seconds: 31))
        #expect(expired.isEmpty)
        #expect(try await database.store.webhook(id: hook.id, workspaceID: nil)?.heldDeliveries == 3)
        // A hand-back after the disabling holds the job too.
        _ = try await database.store.updateWebhook(
            id: hook.id, workspaceID: nil, changes: WebhookChanges(isActive: true), now: t0.adding(seconds: 32))
        let again = try await claim(database, at: t0.adding(seconds: 32))
        #expect(again.count == 3)
        _ = try await database.store.updateWebhook(
            id: hook.id, workspaceID: nil, changes: WebhookChanges(isActive: false), now: t0.adding(seconds: 33))
        try await database.store.release(again, now: t0.adding(seconds: 33))
        #expect(try await claim(database, at: t0.adding(seconds: 34)).isEmpty)
        // A manual retry of a held job is refused while the webhook is disabled.
        let eventID = again[0].eventID
        #expect(
            try await database.store.retryJob(
                webhookID: hook.id, eventID: eventID, workspaceID: nil, now: t0.adding(seconds: 35)) == false)
        #expect(try await claim(database, at: t0.adding(seconds: 36)).isEmpty)
        // New events are held as well, and enabling sends all of them, oldest first.
        try await database.emit()
        let report = try await database.ingest(now: t0.adding(seconds: 37))
        #expect(report.heldJobs == 1)
        #expect(try await database.store.stats(now: t0.adding(seconds: 37)).held == 4)
        _ = try await database.store.updateWebhook(
            id: hook.id, workspaceID: nil, changes: WebhookChanges(isActive: true), now: t0.adding(seconds: 38))
        let released = try await claim(database, at: t0.adding(seconds: 38))
        #expect(released.map(\.jobID) == released.map(\.jobID).sorted())
        #expect(released.count == 4)
    }

    @Test(arguments: Backend.allCases)
    func disablingHoldsQueuedJobsAndEnablingReleasesThemDueNowWithTheCircuitClosed(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let hook = try await database.webhook(now: t0)
        for _ in 0..<3 { try await database.emit() }
        _ = try await database.ingest(now: t0)
        // A failure opens the circuit; after its pause, one probe is in flight.
        let first = try await claim(database, at: t0, limit: 1)
        _ = try await record(database, first, .serverError, at: t0)
        let probe = try await claim(database, at: t0.adding(seconds: 61))
        #expect(probe.count == 1)

        let disabled = try #require(
            try await database.store.updateWebhook(
                id: hook.id, workspaceID: nil, changes: WebhookChanges(isActive: false), now: t0.adding(seconds: 62)))
        #expect(!disabled.isActive && disabled.disabledReason == "disabled by hand")
        #expect(disabled.disabledAt == t0.adding(seconds: 62))
        #expect(disabled.heldDeliveries == 2, "the job in flight is not held")
        #expect(try await database.scalar("SELECT COUNT(*) FROM jobs WHERE state = 'paused'") == 2)
        #expect(
            try await database.strings("SELECT state FROM jobs WHERE id = \(probe[0].jobID)") == ["pending"])
        #expect(try await database.strings("SELECT disabled_by FROM webhooks") == ["operator"])
        #expect(try await database.store.troubledWebhooks(limit: 10).map(\.id) == [hook.id])
        let stats = try await database.store.stats(now: t0.adding(seconds: 62), includingTotals: false)
        #expect(stats.held == 2 && stats.disabledWebhooks == 1 && stats.activeWebhooks == 0)

        let now = t0.adding(seconds: 70)
        let enabled = try #require(
            try await database.store.updateWebhook(
                id: hook.id, workspaceID: nil, changes: WebhookChanges(isActive: true), now: now))
        #expect(enabled.isActive && enabled.disabledReason == nil && enabled.disabledAt == nil)
        #expect(enabled.consecutiveFailures == 0 && !enabled.circuit.isOpen)
        #expect(enabled.heldDeliveries == 0)
        #expect(
            try await database.scalar(
                """
                SELECT COUNT(*) FROM jobs
                WHERE state = 'pending' AND lease_owner IS NULL AND available_at = \(now.milliseconds)
                """) == 2, "released due now")
        #expect(try await database.store.troubledWebhooks(limit: 10).isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func aResultOfARequestInFlightWhenTheWebhookWasDisabledIsHeld(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let hook = try await database.webhook()
        try await database.emit()
        _ = try await database.ingest(now: t0)
        let jobs = try await claim(database, at: t0)
        _ = try await database.store.updateWebhook(
            id: hook.id, workspaceID: nil, changes: WebhookChanges(isActive: false), now: t0)
        _ = try await record(database, jobs, .serverError, at: t0.adding(seconds: 1))
        #expect(try await database.store.webhook(id: hook.id, workspaceID: nil)?.heldDeliveries == 1)
        #expect(try await database.scalar("SELECT attempts FROM jobs") == 1, "its attempt was made and counted")
    }

    @Test(arguments: Backend.allCases)
    func aFailedResultOfADeletedWebhooksRequestCancelsItsJob(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let hook = try await database.webhook()
        try await database.emit()
        _ = try await database.ingest(now: t0)
        let jobs = try await claim(database, at: t0)
        _ = try await database.store.deleteWebhook(id: hook.id, workspaceID: nil, now: t0)
        let report = try await record(database, jobs, refused, at: t0.adding(seconds: 1))
        #expect(report.deliveryIDs.allSatisfy { $0 != nil }, "the attempt is logged")
        #expect(try await database.strings("SELECT state FROM jobs") == ["cancelled"])
    }

    @Test(arguments: Backend.allCases)
    func goneDisablesTheWebhookAndHoldsItsQueue(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let hook = try await database.webhook()
        for _ in 0..<3 { try await database.emit() }
        _ = try await database.ingest(now: t0)
        let first = try await claim(database, at: t0, limit: 1)
        let report = try await record(
            database, first, .answered(status: 410, responseTimeMs: 1, excerpt: "gone"), at: t0.adding(seconds: 1))
        #expect(report.disabledWebhooks == [hook.id])
        #expect(report.finallyFailed.isEmpty)
        let webhook = try #require(try await database.store.webhook(id: hook.id, workspaceID: nil))
        #expect(!webhook.isActive)
        #expect(webhook.disabledReason == "the endpoint answered 410 Gone")
        #expect(webhook.heldDeliveries == 3, "the job that got the 410 and the two behind it")
    }

    @Test(arguments: Backend.allCases)
    func recoverQueuesFailedAndNeverMadeDeliveriesOnce(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let hook = try await database.webhook(events: ["qr.created"], now: t0)
        // An event the webhook did not subscribe to when it was taken in: never made for it.
        try await database.emit(type: "qr.scanned", at: t0.adding(seconds: 1))
        // Two events whose deliveries fail for good (one attempt each).
        try await database.emit(type: "qr.created", at: t0.adding(seconds: 2))
        try await database.emit(type: "qr.created", at: t0.adding(seconds: 3))
        // One outside the window.
        try await database.emit(type: "qr.created", at: t0.adding(seconds: 100))
        _ = try await database.ingest(now: t0.adding(seconds: 101))
        let oneShot = DeliveryRules(retryPolicy: RetryPolicy(schedule: [0]))
        var now = t0.adding(seconds: 101)
        for _ in 0..<3 {
            let jobs = try await claim(database, at: now, limit: 1)
            _ = try await database.store.record(
                jobs.map { AttemptResult(job: $0, outcome: refused, finishedAt: now) }, rules: oneShot)
            now = now.adding(milliseconds: 10)
        }
        #expect(try await database.scalar("SELECT COUNT(*) FROM jobs WHERE state = 'failed'") == 3)
        _ = try await database.store.updateWebhook(
            id: hook.id, workspaceID: nil, changes: WebhookChanges(events: try EventSubscription(validating: ["*"])),
            now: now)
        func recover(dryRun: Bool) async throws -> RecoveryReport {
            try #require(
                try await database.store.recover(
                    RecoveryRequest(
                        webhookID: hook.id, workspaceID: "ws_1", since: t0, until: t0.adding(seconds: 50),
                        dryRun: dryRun, now: now)))
        }
        let preview = try await recover(dryRun: true)
        #expect(preview.failed == 2 && preview.neverMade == 1 && !preview.held)
        #expect(
            try await database.scalar("SELECT COUNT(*) FROM jobs WHERE state = 'failed'") == 3,
            "a dry run changes nothing")
        let done = try await recover(dryRun: false)
        #expect(done == preview)
        #expect(try await recover(dryRun: false).total == 0, "running it twice queues nothing twice")
        // Another workspace's key cannot recover this webhook.
        #expect(
            try await database.store.recover(
                RecoveryRequest(
                    webhookID: hook.id, workspaceID: "ws_2", since: t0, until: now, dryRun: false, now: now)) == nil)
        // The recovered deliveries start a new run of attempts, numbered on from the last one.
        // The webhook's circuit is still open from the failures: one probe, then the rest.
        let probe = try await claim(database, at: now.adding(seconds: 1))
        #expect(probe.count == 1)
        _ = try await record(database, probe, .ok, at: now.adding(seconds: 1))
        let recovered = try await claim(database, at: now.adding(seconds: 2)) + probe
        #expect(recovered.count == 3)
        #expect(recovered.filter { $0.eventType == "qr.created" }.map(\.attempt) == [2, 2])
        #expect(recovered.filter { $0.eventType == "qr.scanned" }.map(\.attempt) == [1])
        let retried = try await database.store.record(
            recovered.dropLast().map { AttemptResult(job: $0, outcome: .ok, finishedAt: now.adding(seconds: 2)) },
            rules: DeliveryRules())
        #expect(retried.deliveryIDs.allSatisfy { $0 != nil })
    }

    @Test(arguments: Backend.allCases)
    func aRecoveryOfADisabledWebhookIsHeldUntilItIsEnabled(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let hook = try await database.webhook(now: t0)
        try await database.emit(at: t0.adding(seconds: 1))
        _ = try await database.ingest(now: t0.adding(seconds: 1))
        let jobs = try await claim(database, at: t0.adding(seconds: 1))
        _ = try await database.store.record(
            jobs.map { AttemptResult(job: $0, outcome: refused, finishedAt: t0.adding(seconds: 2)) },
            rules: DeliveryRules(retryPolicy: RetryPolicy(schedule: [0])))
        _ = try await database.store.updateWebhook(
            id: hook.id, workspaceID: nil, changes: WebhookChanges(isActive: false), now: t0.adding(seconds: 3))
        let report = try #require(
            try await database.store.recover(
                RecoveryRequest(
                    webhookID: hook.id, workspaceID: nil, since: t0, until: t0.adding(seconds: 10), dryRun: false,
                    now: t0.adding(seconds: 4))))
        #expect(report.failed == 1 && report.held)
        #expect(try await claim(database, at: t0.adding(seconds: 5)).isEmpty)
        #expect(try await database.store.webhook(id: hook.id, workspaceID: nil)?.heldDeliveries == 1)
    }

    @Test(arguments: Backend.allCases)
    func recoveryProbesGoOnlyToWebhooksDisabledByFailuresAndEnableThemOnSuccess(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let failing = try await database.webhook(now: t0)
        let byHand = try await database.webhook(now: t0)
        // Disable one by hand, the other by failures (disable-after 1).
        _ = try await database.store.updateWebhook(
            id: byHand.id, workspaceID: nil, changes: WebhookChanges(isActive: false), now: t0)
        for _ in 0..<2 { try await database.emit() }
        _ = try await database.ingest(now: t0)
        let first = try await claim(database, at: t0, limit: 1)
        #expect(first.map(\.webhookID) == [failing.id])
        _ = try await database.store.record(
            first.map { AttemptResult(job: $0, outcome: refused, finishedAt: t0) },
            rules: DeliveryRules(retryPolicy: RetryPolicy(schedule: [0, 1]), disableAfter: 1))
        #expect(
            try await database.store.queueRecoveryProbes(interval: .seconds(60), now: t0.adding(seconds: 59)).isEmpty)
        let probes = try await database.store.queueRecoveryProbes(interval: .seconds(60), now: t0.adding(seconds: 60))
        #expect(probes.map(\.webhookID) == [failing.id])
        #expect(
            try await database.store.queueRecoveryProbes(interval: .seconds(60), now: t0.adding(seconds: 61)).isEmpty)
        // The probe is the one job the disabled webhook is sent.
        let sent = try await claim(database, at: t0.adding(seconds: 62))
        #expect(sent.map(\.eventType) == ["webhook.ping"])
        #expect(sent.first?.isRecoveryProbe == true)
        let report = try await record(database, sent, .ok, at: t0.adding(seconds: 63))
        #expect(report.webhookChanges.map(\.step) == [.enable])
        let enabled = try #require(try await database.store.webhook(id: failing.id, workspaceID: nil))
        #expect(enabled.isActive && enabled.heldDeliveries == 0)
        let released = try await claim(database, at: t0.adding(seconds: 64))
        #expect(released.count == 2 && released.allSatisfy { $0.webhookID == failing.id })
        #expect(try await database.store.webhook(id: byHand.id, workspaceID: nil)?.isActive == false)
    }

    @Test(arguments: Backend.allCases)
    func producerEventIDsAreUniquePerWorkspace(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let mine = try await database.webhook(workspace: "ws_1")
        let theirs = try await database.webhook(workspace: "ws_2")
        try await database.emit(workspace: "ws_1", eventID: "evt_shared")
        // Another workspace may use the same id, and is not told that it exists elsewhere.
        let row = OutboxRow(
            sequence: 0, eventID: "evt_shared", workspaceID: "ws_2", type: "qr.scanned",
            data: Array(#"{"a":1}"#.utf8), createdAt: t0)
        #expect(try await database.store.enqueueIfNew(row) != nil)
        let report = try await database.ingest(now: t0)
        #expect(report.events == 2 && report.duplicates == 0)
        // Within one workspace the id is still a duplicate.
        #expect(try await database.store.enqueueIfNew(row) == nil)
        try await database.emit(workspace: "ws_1", eventID: "evt_shared")
        #expect(try await database.ingest(now: t0).duplicates == 1)
        let jobs = try await claim(database, at: t0)
        #expect(Set(jobs.map(\.webhookID)) == [mine.id, theirs.id])
        #expect(jobs.allSatisfy { $0.eventID == "evt_shared" })
        // Each receiver gets its own workspace's event.
        let theirsBody = try #require(jobs.first { $0.webhookID == theirs.id }?.payload)
        #expect(String(decoding: theirsBody, as: UTF8.self).contains(#""data":{"a":1}"#))
    }

    @Test(arguments: Backend.allCases)
    func aClaimsLeaseStartsWhenItsTransactionRunsNotWhenItWasAskedFor(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        _ = try await database.webhook()
        try await database.emit()
        _ = try await database.ingest(now: t0)
        // A request made two seconds before its transaction ran (it waited for the write lock).
        var round = DeliveryRound(rules: DeliveryRules())
        round.claim = ClaimRequest(
            owner: "a", limit: 1, perWebhookLimit: 1, lease: .seconds(30), now: t0,
            madeAt: .now - .seconds(2))
        let claimed = try await database.store.advance(round).claimed
        #expect(claimed.count == 1)
        let expiry = Int64(try await database.scalar("SELECT lease_expires_at FROM jobs"))
        #expect(expiry >= t0.adding(seconds: 32).milliseconds, "the lease runs 30 s from the claim, not from the ask")
        #expect(try #require(claimed.first).claimedAt >= t0.adding(seconds: 2))
    }

    @Test(arguments: Backend.allCases)
    func aWebhookWithThousandsOfJobsIsDisabledEnabledAndDeletedABatchAtATime(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let hook = try await database.webhook()
        // A producer's 2,500 rows in one statement.
        try await database.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 2499)
            INSERT INTO outbox (workspace_id, type, data) SELECT 'ws_1', 'qr.scanned', '{"n":' || i || '}' FROM n
            """)
        for _ in 0..<10 {
            guard try await database.store.hasOutboxRows() else { break }
            _ = try await database.ingest(now: t0)
        }
        #expect(try await database.scalar("SELECT COUNT(*) FROM jobs WHERE state = 'pending'") == 2500)
        // Disabling holds a thousand at once; the housekeeping holds the rest.
        _ = try await database.store.updateWebhook(
            id: hook.id, workspaceID: nil, changes: WebhookChanges(isActive: false), now: t0)
        #expect(try await database.scalar("SELECT COUNT(*) FROM jobs WHERE state = 'paused'") == 1000)
        #expect(try await database.scalar("SELECT jobs_to_settle FROM webhooks") == 1)
        #expect(try await database.settleWebhookJobs() == 2)
        #expect(try await database.scalar("SELECT COUNT(*) FROM jobs WHERE state = 'paused'") == 2500)
        #expect(try await database.scalar("SELECT jobs_to_settle FROM webhooks") == 0)
        // Enabling releases a thousand at once; the housekeeping releases the rest.
        _ = try await database.store.updateWebhook(
            id: hook.id, workspaceID: nil, changes: WebhookChanges(isActive: true), now: t0)
        #expect(try await database.scalar("SELECT COUNT(*) FROM jobs WHERE state = 'paused'") == 1500)
        #expect(try await database.settleWebhookJobs() == 2)
        #expect(try await database.scalar("SELECT COUNT(*) FROM jobs WHERE state = 'paused'") == 0)
        #expect(try await database.scalar("SELECT jobs_to_settle FROM webhooks") == 0)
        // Deleting cancels a thousand at once; the claim never sends one of the others.
        _ = try await database.store.deleteWebhook(id: hook.id, workspaceID: nil, now: t0)
        #expect(try await database.scalar("SELECT COUNT(*) FROM jobs WHERE state = 'cancelled'") == 1000)
        let claimed = try await database.store.claim(
            owner: "a", limit: 100, perWebhookLimit: 100, lease: .seconds(30), now: t0)
        #expect(claimed.isEmpty, "a deleted webhook is sent nothing")
        #expect(try await database.settleWebhookJobs() >= 1)
        _ = try await database.settleWebhookJobs()
        #expect(try await database.scalar("SELECT COUNT(*) FROM jobs WHERE state <> 'cancelled'") == 0)
    }
}
