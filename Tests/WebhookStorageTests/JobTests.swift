import Testing
import WebhookCore
import WebhookStorage

@Suite struct JobTests {
    let t0 = Timestamp(milliseconds: 10_000)

    func queued(_ database: TestDatabase, events: Int, webhooks: Int = 1) async throws -> [Webhook] {
        var created: [Webhook] = []
        for _ in 0..<webhooks { created.append(try await database.webhook()) }
        for _ in 0..<events { try await database.emit() }
        _ = try await database.ingest(now: t0)
        return created
    }

    @Test(arguments: Backend.allCases)
    func aClaimIsExclusiveUntilItsLeaseExpires(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        _ = try await queued(database, events: 3)
        let first = try await database.store.claim(
            owner: "a", limit: 10, perWebhookLimit: 10, lease: .seconds(30), now: t0)
        #expect(first.count == 3)
        let second = try await database.store.claim(
            owner: "b", limit: 10, perWebhookLimit: 10, lease: .seconds(30), now: t0.adding(seconds: 29)
        )
        #expect(second.isEmpty)
        let stats = try await database.store.stats(now: t0.adding(seconds: 1))
        #expect(stats.inFlight == 3)
        // Worker a hangs: after the lease, b takes the jobs again (at-least-once).
        let reclaimed = try await database.store.claim(
            owner: "b", limit: 10, perWebhookLimit: 10, lease: .seconds(30), now: t0.adding(seconds: 31)
        )
        #expect(Set(reclaimed.map(\.jobID)) == Set(first.map(\.jobID)))
        #expect(reclaimed.allSatisfy { $0.attempt == 1 })
        #expect(
            zip(reclaimed.sorted { $0.jobID < $1.jobID }, first.sorted { $0.jobID < $1.jobID })
                .allSatisfy { $0.leaseToken > $1.leaseToken })
    }

    @Test(arguments: Backend.allCases)
    func aStaleWorkersResultIsIgnored(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        _ = try await queued(database, events: 1)
        let stale = try #require(
            try await database.store.claim(owner: "a", limit: 1, perWebhookLimit: 1, lease: .seconds(1), now: t0).first
        )
        let fresh = try #require(
            try await database.store.claim(
                owner: "b", limit: 1, perWebhookLimit: 1, lease: .seconds(30), now: t0.adding(seconds: 2)
            ).first
        )
        let late = try await database.store.record(
            [AttemptResult(job: stale, outcome: .serverError, finishedAt: t0.adding(seconds: 3))],
            policy: RetryPolicy(), disableAfter: 10
        )
        #expect(late.staleResults.map(\.jobID) == [stale.jobID])
        #expect(late.deliveryIDs == [nil])
        let current = try await database.store.record(
            [AttemptResult(job: fresh, outcome: .ok, finishedAt: t0.adding(seconds: 3))],
            policy: RetryPolicy(), disableAfter: 10
        )
        #expect(current.staleResults.isEmpty)
        let log = try await database.store.deliveries(DeliveryQuery(webhookID: fresh.webhookID))
        #expect(log.items.count == 1)
        #expect(log.items.first?.succeeded == true)
        let webhook = try await database.store.webhook(id: fresh.webhookID, workspaceID: nil)
        #expect(webhook?.consecutiveFailures == 0)
    }

    @Test(arguments: Backend.allCases)
    func perWebhookCapLeavesRoomForOthers(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let hooks = try await queued(database, events: 20, webhooks: 2)
        let first = try await database.store.claim(
            owner: "a", limit: 100, perWebhookLimit: 4, lease: .seconds(30), now: t0)
        #expect(first.count == 8)
        #expect(first.filter { $0.webhookID == hooks[0].id }.count == 4)
        #expect(first.filter { $0.webhookID == hooks[1].id }.count == 4)
        // Another owner respects the same cap while the leases live.
        let second = try await database.store.claim(
            owner: "b", limit: 100, perWebhookLimit: 4, lease: .seconds(30), now: t0)
        #expect(second.isEmpty)
    }

    /// A slow webhook with 50 jobs queued a second before the `healthyJobs` of a healthy one.
    func slowQueueAhead(of healthyJobs: Int, in database: TestDatabase) async throws -> (
        slow: Webhook, healthy: Webhook
    ) {
        let slow = try await database.webhook(events: ["qr.created"])
        let healthy = try await database.webhook(events: ["qr.scanned"])
        for _ in 0..<50 { try await database.emit(type: "qr.created") }
        _ = try await database.ingest(now: t0.adding(seconds: -1))
        for _ in 0..<healthyJobs { try await database.emit(type: "qr.scanned") }
        _ = try await database.ingest(now: t0)
        return (slow, healthy)
    }

    @Test(arguments: Backend.allCases)
    func aSaturatedWebhookDoesNotHideJobsBehindIt(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let (slow, healthy) = try await slowQueueAhead(of: 5, in: database)
        let first = try await database.store.claim(
            owner: "a", limit: 2, perWebhookLimit: 2, lease: .seconds(30), now: t0)
        #expect(first.allSatisfy { $0.webhookID == slow.id })
        let next = try await database.store.claim(
            owner: "a", limit: 2, perWebhookLimit: 2, lease: .seconds(30), now: t0)
        #expect(next.count == 2)
        #expect(next.allSatisfy { $0.webhookID == healthy.id })
    }

    @Test(arguments: Backend.allCases)
    func aWalkStartingPastASaturatedQueueStillSeesEveryJobThatCameDue(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let (slow, healthy) = try await slowQueueAhead(of: 6, in: database)
        let policy = RetryPolicy(schedule: [0, 0])
        func claim(_ limit: Int = 2) async throws -> [ClaimedJob] {
            try await database.store.claim(owner: "a", limit: limit, perWebhookLimit: 2, lease: .seconds(30), now: t0)
        }
        func succeed(_ jobs: [ClaimedJob]) async throws {
            _ = try await database.store.record(
                jobs.map { AttemptResult(job: $0, outcome: .ok, finishedAt: t0) }, policy: policy, disableAfter: 10)
        }
        let slowFirst = try await claim()
        #expect(slowFirst.allSatisfy { $0.webhookID == slow.id })
        // The slow webhook is at its limit: these walks may start past its 48 waiting jobs.
        let healthyFirst = try await claim()
        #expect(healthyFirst.map(\.webhookID) == [healthy.id, healthy.id])
        try await succeed(healthyFirst)
        let healthyNext = try await claim()
        #expect(healthyNext.map(\.webhookID) == [healthy.id, healthy.id])
        // A slot of the slow webhook frees: its next job, queued before every healthy one, comes first.
        try await succeed([slowFirst[0]])
        let slowNext = try await claim(1)
        #expect(slowNext.map(\.webhookID) == [slow.id])
        #expect(slowNext[0].jobID > slowFirst.map(\.jobID).max()!)
        #expect(slowNext[0].jobID < healthyFirst.map(\.jobID).min()!)
        // And a job handed back lands where any walk sees it.
        try await database.store.release(healthyNext, now: t0)
        let again = try await claim()
        #expect(Set(again.map(\.jobID)) == Set(healthyNext.map(\.jobID)))
    }

    /// Another process (a CLI `enable`, the API) commits a job due at a time it read before the
    /// daemon's last walk: later walks must still find it, however many came in between.
    @Test(arguments: Backend.allCases)
    func aJobMadeDueBehindTheLastWalkIsClaimedByTheNext(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let webhook = try await database.webhook()
        let nothing = try await database.store.claim(
            owner: "a", limit: 2, perWebhookLimit: 2, lease: .seconds(30), now: t0)
        #expect(nothing.isEmpty)
        try await database.emit()
        _ = try await database.ingest(now: t0.adding(seconds: -0.5))
        let next = try await database.store.claim(
            owner: "a", limit: 2, perWebhookLimit: 2, lease: .seconds(30), now: t0.adding(seconds: 0.001))
        #expect(next.map(\.webhookID) == [webhook.id])
    }

    /// The same with a webhook at its limit, whose queue later walks step past: the job is
    /// claimed within a second of the last walk from the start, though walks come every 100 ms.
    @Test(arguments: Backend.allCases)
    func aJobMadeDueBehindAWalkPastASaturatedQueueWaitsASecondAtMost(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let (slow, healthy) = try await slowQueueAhead(of: 0, in: database)
        func claim(at milliseconds: Int64) async throws -> [ClaimedJob] {
            try await database.store.claim(
                owner: "a", limit: 2, perWebhookLimit: 2, lease: .seconds(30),
                now: t0.adding(milliseconds: milliseconds))
        }
        #expect(try await claim(at: 0).allSatisfy { $0.webhookID == slow.id })
        #expect(try await claim(at: 0).isEmpty)
        try await database.emit(type: "qr.scanned")
        _ = try await database.ingest(now: t0.adding(seconds: -0.5))
        var claimedAt: Int64?
        for step in Int64(1)...20 where claimedAt == nil {
            let jobs = try await claim(at: step * 100)
            #expect(jobs.allSatisfy { $0.webhookID == healthy.id })
            if !jobs.isEmpty { claimedAt = step * 100 }
        }
        let at = try #require(claimedAt, "the healthy job was never claimed")
        #expect(at <= 1000)
    }

    @Test(arguments: Backend.allCases)
    func retriesFollowTheScheduleThenFail(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        _ = try await queued(database, events: 1)
        let policy = RetryPolicy(schedule: [0, 60, 300])
        var now = t0
        var attempts: [Int] = []
        for expected in 1...3 {
            let job = try #require(
                try await database.store.claim(owner: "a", limit: 1, perWebhookLimit: 1, lease: .seconds(30), now: now)
                    .first
            )
            attempts.append(job.attempt)
            #expect(job.attempt == expected)
            let report = try await database.store.record(
                [AttemptResult(job: job, outcome: .serverError, finishedAt: now)], policy: policy, disableAfter: 10
            )
            if expected < 3 {
                let due = try #require(try await database.store.nextDueTime())
                #expect(due == now.adding(seconds: policy.schedule[expected]))
                let early = try await database.store.claim(
                    owner: "a", limit: 1, perWebhookLimit: 1, lease: .seconds(30), now: due.adding(milliseconds: -1)
                )
                #expect(early.isEmpty)
                now = due
            } else {
                #expect(report.finallyFailed.count == 1)
            }
        }
        let log = try await database.store.deliveries(
            DeliveryQuery(
                webhookID: try #require(
                    try await database.store.listWebhooks(workspaceID: nil, limit: 1, startingAfter: nil).items.first?
                        .id)))
        #expect(log.items.map(\.attempt) == [3, 2, 1])
        #expect(log.items.map { $0.nextRetryAt != nil } == [false, true, true])
        let stats = try await database.store.stats(now: now, includingTotals: true)
        #expect(stats.failed == 1)
        #expect(stats.pending == 0)
    }

    @Test(arguments: Backend.allCases)
    func disablesAfterExactlyTenConsecutiveFailures(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let hooks = try await queued(database, events: 12)
        let policy = RetryPolicy(schedule: [0])
        for round in 1...12 {
            // Each probe goes out after the previous failure: a millisecond apart here.
            let now = t0.adding(milliseconds: Int64(round))
            let claimed = try await database.store.claim(
                owner: "a", limit: 1, perWebhookLimit: 1, lease: .seconds(30), now: now
            )
            if round <= 10 {
                let job = try #require(claimed.first)
                let report = try await database.store.record(
                    [AttemptResult(job: job, outcome: .serverError, finishedAt: now)], policy: policy, disableAfter: 10
                )
                let webhook = try #require(try await database.store.webhook(id: hooks[0].id, workspaceID: nil))
                #expect(webhook.isActive == (round < 10), "after \(round) failures")
                #expect(report.disabledWebhooks == (round == 10 ? [hooks[0].id] : []))
            } else {
                #expect(claimed.isEmpty, "a disabled webhook's jobs are paused")
            }
        }
        let stats = try await database.store.stats(now: t0)
        #expect(stats.held == 2)
        #expect(stats.disabledWebhooks == 1)
        let disabled = try #require(try await database.store.webhook(id: hooks[0].id, workspaceID: nil))
        #expect(disabled.disabledReason == "10 consecutive failed attempts over under a minute")
        #expect(disabled.disabledAt == t0.adding(milliseconds: 10))
        #expect(disabled.heldDeliveries == 2)
        // Re-enabling resets the count and resumes the held jobs.
        let later = t0.adding(seconds: 1)
        let enabled = try await database.store.updateWebhook(
            id: hooks[0].id, workspaceID: nil, changes: WebhookChanges(isActive: true), now: later
        )
        #expect(enabled?.isActive == true)
        #expect(enabled?.consecutiveFailures == 0)
        #expect(enabled?.heldDeliveries == 0)
        let resumed = try await database.store.claim(
            owner: "a", limit: 10, perWebhookLimit: 10, lease: .seconds(30), now: later)
        #expect(resumed.count == 2)
    }

    @Test(arguments: Backend.allCases)
    func aSuccessResetsTheCount(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let hooks = try await queued(database, events: 19)
        let policy = RetryPolicy(schedule: [0])
        for round in 1...19 {
            let now = t0.adding(milliseconds: Int64(round))
            let job = try #require(
                try await database.store.claim(owner: "a", limit: 1, perWebhookLimit: 1, lease: .seconds(30), now: now)
                    .first
            )
            let outcome: DeliveryOutcome = round == 9 ? .ok : .serverError
            _ = try await database.store.record(
                [AttemptResult(job: job, outcome: outcome, finishedAt: now)], policy: policy, disableAfter: 10
            )
            let webhook = try #require(try await database.store.webhook(id: hooks[0].id, workspaceID: nil))
            // 8 failures, a success, then 10 failures: only the 19th attempt disables it.
            #expect(webhook.consecutiveFailures == (round < 9 ? round : round - 9))
            #expect(webhook.isActive == (round < 19))
        }
    }

    @Test(arguments: Backend.allCases)
    func releasedClaimsAreDueAtOnce(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        _ = try await queued(database, events: 2)
        let claimed = try await database.store.claim(
            owner: "a", limit: 2, perWebhookLimit: 2, lease: .seconds(30), now: t0)
        try await database.store.release(claimed, now: t0)
        let again = try await database.store.claim(
            owner: "b", limit: 2, perWebhookLimit: 2, lease: .seconds(30), now: t0)
        #expect(again.count == 2)
        #expect(again.allSatisfy { $0.attempt == 1 })
    }

    @Test(arguments: Backend.allCases)
    func workspacesSeeOnlyTheirOwnWebhooks(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let mine = try await database.webhook(workspace: "ws_a")
        _ = try await database.webhook(workspace: "ws_b")
        #expect(try await database.store.webhook(id: mine.id, workspaceID: "ws_b") == nil)
        #expect(try await database.store.webhook(id: mine.id, workspaceID: "ws_a") != nil)
        #expect(
            try await database.store.listWebhooks(workspaceID: "ws_b", limit: 10, startingAfter: nil).items.count == 1)
        #expect(try await database.store.deleteWebhook(id: mine.id, workspaceID: "ws_b", now: t0) == false)
        #expect(try await database.store.deleteWebhook(id: mine.id, workspaceID: "ws_a", now: t0))
        #expect(try await database.store.webhook(id: mine.id, workspaceID: nil) == nil)
    }
}

@Suite struct QueueStatsTests {
    @Test(arguments: Backend.allCases)
    func figuresCountEachStateOnce(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let t0 = Timestamp(milliseconds: 10_000)
        _ = try await database.webhook()
        for _ in 0..<5 { try await database.emit() }
        _ = try await database.ingest(now: t0)
        let claimed = try await database.store.claim(
            owner: "a", limit: 2, perWebhookLimit: 10, lease: .seconds(30), now: t0
        )
        _ = try await database.store.record(
            [AttemptResult(job: claimed[0], outcome: .ok, finishedAt: t0)], policy: RetryPolicy(), disableAfter: 10
        )
        let stats = try await database.store.stats(now: t0, includingTotals: true)
        #expect(stats.pending == 3)
        #expect(stats.due == 3)
        #expect(stats.inFlight == 1)
        #expect(stats.delivered == 1)
        #expect(stats.failed == 0)
        let cheap = try await database.store.stats(now: t0)
        #expect(cheap.delivered == 0, "totals only when asked for")
        #expect(cheap.inFlight == 1)
        // Once the lease runs out, the claim counts as due again, not as in flight.
        let later = try await database.store.stats(now: t0.adding(seconds: 31))
        #expect(later.inFlight == 0)
        #expect(later.due == 4)
        #expect(later.pending == 4)
    }
}

@Suite struct FailingWebhookTests {
    @Test(arguments: Backend.allCases)
    func aFailingWebhookGetsOneRequestAtATime(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let t0 = Timestamp(milliseconds: 10_000)
        let hook = try await database.webhook()
        for _ in 0..<10 { try await database.emit() }
        _ = try await database.ingest(now: t0)
        let first = try await database.store.claim(
            owner: "a", limit: 1, perWebhookLimit: 8, lease: .seconds(30), now: t0)
        _ = try await database.store.record(
            [AttemptResult(job: first[0], outcome: .serverError, finishedAt: t0)],
            policy: RetryPolicy(schedule: [0, 0]), disableAfter: 10
        )
        let whileFailing = try await database.store.claim(
            owner: "a", limit: 8, perWebhookLimit: 8, lease: .seconds(30), now: t0
        )
        #expect(whileFailing.count == 1, "one request at a time while the webhook fails")
        _ = try await database.store.record(
            [AttemptResult(job: whileFailing[0], outcome: .ok, finishedAt: t0)],
            policy: RetryPolicy(schedule: [0, 0]), disableAfter: 10
        )
        let recovered = try await database.store.claim(
            owner: "a", limit: 8, perWebhookLimit: 8, lease: .seconds(30), now: t0
        )
        #expect(recovered.count == 8, "the full per-webhook limit once it succeeds again")
        #expect(recovered.allSatisfy { $0.webhookID == hook.id })
    }
}

@Suite struct AttemptLogTests {
    /// Every attempt of the webhook, newest first, through pages of `limit`.
    func everyPage(_ database: TestDatabase, _ webhookID: String, limit: Int, succeeded: Bool? = nil) async throws
        -> [String]
    {
        var ids: [String] = []
        var cursor: String?
        for _ in 0..<100 {
            let page = try await database.store.deliveries(
                DeliveryQuery(webhookID: webhookID, limit: limit, startingAfter: cursor, succeeded: succeeded))
            ids += page.items.map(\.id)
            guard page.hasMore, let last = page.items.last else { break }
            cursor = last.id
        }
        return ids
    }

    @Test(arguments: Backend.allCases)
    func theLogReadsTheSameBeforeDuringAndAfterFiling(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let t0 = Timestamp(milliseconds: 10_000)
        let hook = try await database.webhook()
        let other = try await database.webhook()
        for _ in 0..<12 { try await database.emit() }
        _ = try await database.ingest(now: t0)
        var recorded: [String] = []
        var everyWebhook = 0
        var lastBatch = 0
        // Attempts in three batches, each a millisecond apart, with the log filed in between:
        // some attempts filed, some in the tail, and both read as one list. Only successes,
        // so neither webhook slows to one request at a time.
        for batch in 0..<3 {
            let now = t0.adding(seconds: Double(batch) / 1000)
            let claimed = try await database.store.claim(
                owner: "a", limit: 8, perWebhookLimit: 4, lease: .seconds(30), now: now)
            #expect(claimed.count == 8)
            let results = claimed.map { AttemptResult(job: $0, outcome: .ok, finishedAt: now) }
            let report = try await database.store.record(results, policy: RetryPolicy(), disableAfter: 10)
            recorded += zip(claimed, report.deliveryIDs).filter { $0.0.webhookID == hook.id }.compactMap(\.1)
            everyWebhook += claimed.count
            lastBatch = claimed.count
            // Filing the log into its table is SQLite's (PostgreSQL writes attempts where they stay).
            if batch < 2, let sqlite = database.sqlite { #expect(try await sqlite.foldAttemptLog() == claimed.count) }
        }
        let expected = recorded.sorted(by: >)
        #expect(expected.count == 12)
        #expect(try await everyPage(database, hook.id, limit: 5) == expected)
        #expect(try await everyPage(database, hook.id, limit: 50) == expected)
        #expect(try await everyPage(database, hook.id, limit: 2, succeeded: false).isEmpty)
        // Filing again, and filing an empty tail, changes nothing.
        if let sqlite = database.sqlite {
            #expect(try await sqlite.foldAttemptLog() == lastBatch)
            #expect(try await sqlite.foldAttemptLog() == 0)
        }
        #expect(try await everyPage(database, hook.id, limit: 5) == expected)
        #expect(try await everyPage(database, other.id, limit: 5).count == everyWebhook - 12)
    }

    @Test(arguments: Backend.allCases)
    func theDeliveryLogIsReadNewestFirstByPagesAndFilters(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let t0 = Timestamp(milliseconds: 1_000_000_000)
        let hook = try await database.webhook()
        let other = try await database.webhook(workspace: "ws_2")
        for index in 0..<5 { try await database.emit(type: index == 3 ? "qr.created" : "qr.scanned") }
        _ = try await database.ingest(now: t0)
        // One attempt at a time, far enough apart that a failure's pause is over by the next;
        // the odd ones fail for good.
        let rules = DeliveryRules(retryPolicy: RetryPolicy(schedule: [0]))
        var ids: [String] = []
        var jobs: [ClaimedJob] = []
        for index in 0..<5 {
            let now = t0.adding(seconds: Double(index) * 1000)
            let job = try #require(
                try await database.store.claim(owner: "a", limit: 1, perWebhookLimit: 1, lease: .seconds(30), now: now)
                    .first)
            let outcome: DeliveryOutcome = index % 2 == 0 ? .ok : .serverError
            let report = try await database.store.record(
                [AttemptResult(job: job, outcome: outcome, finishedAt: now)], rules: rules)
            ids.append(try #require(report.deliveryIDs.first ?? nil))
            jobs.append(job)
        }
        #expect(jobs.map(\.webhookID) == Array(repeating: hook.id, count: 5))
        try await database.emit(workspace: "ws_2")
        _ = try await database.ingest(now: t0)
        let theirs = try await database.store.claim(
            owner: "a", limit: 10, perWebhookLimit: 10, lease: .seconds(30), now: t0.adding(seconds: 5000))
        #expect(theirs.map(\.webhookID) == [other.id])
        _ = try await database.store.record(
            theirs.map { AttemptResult(job: $0, outcome: .ok, finishedAt: t0.adding(seconds: 5000)) }, rules: rules)

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
        byEvent.eventID = jobs[4].eventID
        #expect(try await database.store.deliveries(byEvent).items.map(\.id) == [ids[4]])
        #expect(
            try await database.store.deliveries(DeliveryQuery(webhookID: hook.id, workspaceID: "ws_2")).items.isEmpty)

        let one = try #require(try await database.store.delivery(id: ids[0], webhookID: hook.id, workspaceID: "ws_1"))
        #expect(one.succeeded && one.statusCode == 200 && one.responseTimeMs == 1 && one.failure == nil)
        #expect(one.createdAt == t0 && one.attempt == 1)
        #expect(try await database.store.delivery(id: ids[0], webhookID: hook.id, workspaceID: "ws_2") == nil)
        #expect(try await database.store.delivery(id: ids[0], webhookID: other.id, workspaceID: nil) == nil)
    }
}
