import Testing
import WebhookCore
import WebhookStorage

/// Webhooks and API keys: made, read by pages, changed, deleted, each seen only by its workspace.
@Suite struct WebhookTests {
    let t0 = Timestamp(milliseconds: 1_000_000_000)

    @Test(arguments: Backend.allCases)
    func webhooksAreCreatedListedByPagesAndSeenOnlyByTheirWorkspace(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
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

    @Test(arguments: Backend.allCases)
    func anUpdateChangesWhatItNamesAndASecretSetOutrightEndsTheOverlap(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
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

    @Test(arguments: Backend.allCases)
    func aDeletedWebhookIsGoneItsSecretOverwrittenAndItsJobsCancelled(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let hook = try await database.webhook(headers: CustomHeaders([CustomHeaders.Header(name: "x-a", value: "b")]))
        _ = try await database.store.rotateSecret(
            id: hook.id, workspaceID: nil, to: "another-secret-of-16", overlapSeconds: 60, now: t0)
        try await database.emit()
        _ = try await database.ingest(now: t0)
        #expect(try await !database.store.deleteWebhook(id: hook.id, workspaceID: "ws_2", now: t0))
        #expect(try await database.store.deleteWebhook(id: hook.id, workspaceID: "ws_1", now: t0))
        #expect(try await !database.store.deleteWebhook(id: hook.id, workspaceID: nil, now: t0))
        #expect(try await database.store.webhook(id: hook.id, workspaceID: nil) == nil)
        #expect(try await database.store.listWebhooks(workspaceID: nil, limit: 10, startingAfter: nil).items.isEmpty)
        let stored = try await database.strings("SELECT secret FROM webhooks WHERE id = '\(hook.id)'")
        #expect(stored.count == 1 && stored[0] != hook.secret && stored[0].count == 64)
        #expect(
            try await database.strings(
                "SELECT COALESCE(headers, '') || COALESCE(previous_secret, '') FROM webhooks WHERE id = '\(hook.id)'")
                == [""],
            "no custom header value or previous secret is kept")
        #expect(try await database.strings("SELECT state FROM jobs") == ["cancelled"])
    }

    @Test(arguments: Backend.allCases)
    func aRetryMakesOneJobDueNowUnlessTheWebhookIsDisabled(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let hook = try await database.webhook(now: t0)
        try await database.emit()
        try await database.emit()
        _ = try await database.ingest(now: t0)
        // One job fails for good, the other is in flight.
        let first = try #require(
            try await database.store.claim(owner: "w", limit: 1, perWebhookLimit: 1, lease: .seconds(30), now: t0)
                .first)
        _ = try await database.store.record(
            [AttemptResult(job: first, outcome: .serverError, finishedAt: t0)],
            rules: DeliveryRules(retryPolicy: RetryPolicy(schedule: [0])))
        let inFlight = try #require(
            try await database.store.claim(owner: "w", limit: 1, perWebhookLimit: 1, lease: .seconds(30), now: t0)
                .first)
        let failed = first.eventID
        let now = t0.adding(seconds: 10)
        #expect(try await !database.store.retryJob(webhookID: hook.id, eventID: failed, workspaceID: "ws_2", now: now))
        #expect(try await !database.store.retryJob(webhookID: hook.id, eventID: "evt_none", workspaceID: nil, now: now))
        #expect(try await database.store.retryJob(webhookID: hook.id, eventID: failed, workspaceID: "ws_1", now: now))
        #expect(
            try await database.strings("SELECT state || ' ' || available_at FROM jobs WHERE id = \(first.jobID)")
                == ["pending \(now.milliseconds)"])
        #expect(
            try await database.store.retryJob(
                webhookID: hook.id, eventID: inFlight.eventID, workspaceID: nil, now: now),
            "a job in flight is being sent, which is what was asked")
        _ = try await database.store.updateWebhook(
            id: hook.id, workspaceID: nil, changes: WebhookChanges(isActive: false), now: now)
        #expect(try await !database.store.retryJob(webhookID: hook.id, eventID: failed, workspaceID: nil, now: now))
    }

    @Test(arguments: Backend.allCases)
    func apiKeysAreFoundByHashListedOldestFirstAndRevokedOnce(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
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
}
