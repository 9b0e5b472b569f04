import Testing
import WebhookCore
import WebhookStorage

@Suite struct IngestTests {
    @Test(arguments: Backend.allCases)
    func fansOutToMatchingWebhooksOfTheWorkspaceHoldingThoseOfDisabledOnes(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        let all = try await database.webhook(events: ["*"])
        let scanned = try await database.webhook(events: ["qr.scanned"])
        let alias = try await database.webhook(events: ["scan.created"])
        let created = try await database.webhook(events: ["qr.created"])
        let disabled = try await database.webhook(events: ["*"])
        _ = try await database.store.updateWebhook(
            id: disabled.id, workspaceID: nil, changes: WebhookChanges(isActive: false), now: .init(milliseconds: 1)
        )
        let otherWorkspace = try await database.webhook(workspace: "ws_2", events: ["*"])

        try await database.emit(type: "qr.scanned")
        try await database.emit(type: "scan.created")
        try await database.emit(type: "qr.created")
        let report = try await database.ingest()
        #expect(report.events == 3)
        #expect(report.rejected.isEmpty)

        let jobs = try await database.store.claim(
            owner: "t", limit: 100, perWebhookLimit: 100, lease: .seconds(60), now: .init(milliseconds: 3_000)
        )
        var byWebhook: [String: [String]] = [:]
        for job in jobs { byWebhook[job.webhookID, default: []].append(job.eventType) }
        #expect(byWebhook[all.id]?.sorted() == ["qr.created", "qr.scanned", "scan.created"])
        #expect(byWebhook[scanned.id]?.sorted() == ["qr.scanned", "scan.created"])
        #expect(byWebhook[alias.id]?.sorted() == ["qr.scanned", "scan.created"])
        #expect(byWebhook[created.id] == ["qr.created"])
        #expect(byWebhook[disabled.id] == nil, "a disabled webhook is sent nothing")
        #expect(byWebhook[otherWorkspace.id] == nil)
        // The disabled webhook's jobs are made and held, not dropped: enabling it sends them.
        #expect(report.jobs == jobs.count + 3)
        #expect(report.heldJobs == 3)
        let held = try #require(try await database.store.webhook(id: disabled.id, workspaceID: nil))
        #expect(held.heldDeliveries == 3)
        _ = try await database.store.updateWebhook(
            id: disabled.id, workspaceID: nil, changes: WebhookChanges(isActive: true), now: .init(milliseconds: 3_000))
        let released = try await database.store.claim(
            owner: "t", limit: 100, perWebhookLimit: 100, lease: .seconds(60), now: .init(milliseconds: 3_000)
        )
        #expect(released.map(\.webhookID) == [disabled.id, disabled.id, disabled.id])
        #expect(released.map(\.eventType) == ["qr.scanned", "scan.created", "qr.created"], "oldest first")
    }

    @Test(arguments: Backend.allCases)
    func rejectsBadRowsWithReasonsWithoutBlockingGoodOnes(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        _ = try await database.webhook()
        try await database.emit(data: #"{"ok":1}"#)
        try await database.emit(type: "qr.exploded")
        try await database.emit(data: "{not json")
        try await database.emit(data: "[1,2]")
        try await database.emit(workspace: "")
        try await database.emit(data: String(repeating: "x", count: 300 * 1024))
        try await database.emit(data: #"{"ok":2}"#)
        let report = try await database.ingest()
        #expect(report.events == 2)
        let reasons = report.rejected.map(\.reason)
        #expect(reasons.count == 5)
        #expect(reasons.contains { $0.contains("qr.exploded") && $0.contains("not a known event type") })
        #expect(reasons.contains { $0.contains("not valid JSON") })
        #expect(reasons.contains { $0.contains("must be a JSON object") })
        #expect(reasons.contains { $0.contains("workspace_id is missing") })
        #expect(reasons.contains { $0.contains("more than the limit") })
        #expect(try await database.store.rejectedEvents(limit: 10).count == 5)
        let stats = try await database.store.stats(now: .init(milliseconds: 3_000))
        #expect(stats.outboxBacklog == 0)
        #expect(stats.rejectedEvents == 5)
        #expect(stats.due == 2)
    }

    @Test(arguments: Backend.allCases)
    func producerEventIDsAreIdempotent(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        _ = try await database.webhook()
        try await database.emit(eventID: "evt_producer_1")
        _ = try await database.ingest()
        try await database.emit(eventID: "evt_producer_1")
        let report = try await database.ingest()
        #expect(report.duplicates == 1)
        #expect(report.events == 0)
        let stats = try await database.store.stats(now: .init(milliseconds: 3_000))
        #expect(stats.due == 1)
    }

    @Test(arguments: Backend.allCases)
    func payloadHasTheDocumentedShape(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        _ = try await database.webhook()
        try await database.emit(
            data: #"{"code_id":"qr_abc123","short_code":"r7f3Kx"}"#, eventID: "evt_abc123xyz",
            at: Timestamp(iso8601: "2026-03-15T10:00:00.000Z")!)
        _ = try await database.ingest()
        let job = try #require(
            try await database.store.claim(
                owner: "t", limit: 1, perWebhookLimit: 1, lease: .seconds(60), now: .init(milliseconds: 3_000)
            ).first
        )
        #expect(
            String(decoding: job.payload, as: UTF8.self)
                == #"{"id":"evt_abc123xyz","type":"qr.scanned","created":"2026-03-15T10:00:00.000Z","data":{"code_id":"qr_abc123","short_code":"r7f3Kx"}}"#
        )
    }
}

@Suite struct ReplayedOutboxRowTests {
    /// A power loss can undo the transaction that took a row in while its requests went out: the
    /// row comes back, and must come back as the same event, never as a new one.
    @Test(arguments: Backend.allCases)
    func aRowTakenInAgainIsTheSameEvent(_ backend: Backend) async throws {
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        _ = try await database.webhook()
        // The producer writes the row's sequence number itself here, as the replay brings the
        // same one back; PostgreSQL's identity column takes one only when told to override it.
        let override = backend == .postgresql ? " OVERRIDING SYSTEM VALUE" : ""
        let insert = """
            INSERT INTO outbox (seq, workspace_id, type, data, created_at)\(override)
            VALUES (7, 'ws_1', 'qr.scanned', '{"code_id":"qr_1"}', 1773568800000)
            """
        try await database.execute(insert)
        let first = try await database.ingest()
        #expect(first.events == 1)
        try await database.execute(insert)
        let replay = try await database.ingest()
        #expect(replay.events == 0)
        #expect(replay.duplicates == 1)
        let jobs = try await database.store.claim(
            owner: "t", limit: 10, perWebhookLimit: 10, lease: .seconds(60), now: .init(milliseconds: 3_000)
        )
        #expect(jobs.count == 1)
    }
}
