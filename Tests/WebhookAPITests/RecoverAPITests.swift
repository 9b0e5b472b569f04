import Testing
import WebhookCore
import WebhookStorage

@Suite struct RecoverAPITests {
    @Test func recoverQueuesAWindowOnceAndADryRunOnlyCounts() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let id = try await server.createWebhook(key: key)
            try await server.recordAttempts(
                workspace: "ws_1", outcomes: [.serverError, .ok, .serverError], policy: RetryPolicy(schedule: [0]))
            let since = Timestamp.now().adding(seconds: -60).iso8601
            let dryRun = try await server.send(
                "POST", "/v1/webhooks/\(id)/recover", json: #"{"since":"\#(since)","dry_run":true}"#, key: key)
            #expect(dryRun.status == 200)
            #expect(dryRun.json["status"] == .string("dry_run"))
            #expect(dryRun.json["queued"] == .number("2"))
            let queued = try await server.send(
                "POST", "/v1/webhooks/\(id)/recover", json: #"{"since":"\#(since)"}"#, key: key)
            #expect(queued.status == 202)
            #expect(queued.json["queued"] == .number("2"))
            #expect(queued.json["failed"] == .number("2"))
            #expect(queued.json["never_made"] == .number("0"))
            #expect(queued.json["held"] == .bool(false))
            let again = try await server.send(
                "POST", "/v1/webhooks/\(id)/recover", json: #"{"since":"\#(since)"}"#, key: key)
            #expect(again.json["queued"] == .number("0"), "running it twice queues nothing twice")
            // Bad windows say what is wrong.
            let backwards = try await server.send(
                "POST", "/v1/webhooks/\(id)/recover",
                json: #"{"since":"\#(since)","until":"2000-01-01T00:00:00.000Z"}"#, key: key)
            #expect(backwards.status == 422)
            #expect(backwards.json["error"]?["field"] == .string("since"))
            let missing = try await server.send("POST", "/v1/webhooks/\(id)/recover", json: "{}", key: key)
            #expect(missing.status == 422)
            #expect(missing.json["error"]?["code"] == .string("missing_field"))
            let notATime = try await server.send(
                "POST", "/v1/webhooks/\(id)/recover", json: #"{"since":"yesterday"}"#, key: key)
            #expect(notATime.status == 422)
            // Another workspace's webhook looks missing.
            let other = try await server.key(for: "ws_2")
            let foreign = try await server.send(
                "POST", "/v1/webhooks/\(id)/recover", json: #"{"since":"\#(since)"}"#, key: other)
            #expect(foreign.status == 404)
        }
    }

    @Test func aDisabledWebhookIsNeitherPingedNorRetriedAndSaysHowManyAreHeld() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let id = try await server.createWebhook(key: key)
            try await server.recordAttempts(
                workspace: "ws_1", outcomes: [.serverError], policy: RetryPolicy(schedule: [0]))
            let log = try await server.send("GET", "/v1/webhooks/\(id)/deliveries", key: key)
            let deliveryID = try #require(log.data.first?["id"]?.stringValue)
            let off = try await server.send("PATCH", "/v1/webhooks/\(id)", json: #"{"is_active":false}"#, key: key)
            #expect(off.json["held_deliveries"] == .number("0"))
            _ = try await server.send(
                "POST", "/v1/events", json: #"{"type":"qr.scanned","data":{"n":1}}"#, key: key)
            _ = try await server.store.ingest(limit: 100, validator: OutboxValidator(), now: .now())
            let held = try await server.send("GET", "/v1/webhooks/\(id)", key: key)
            #expect(held.json["held_deliveries"] == .number("1"), "an event that arrived while disabled is held")
            let ping = try await server.send("POST", "/v1/webhooks/\(id)/ping", key: key)
            #expect(ping.status == 409)
            #expect(ping.json["error"]?["code"] == .string("webhook_disabled"))
            let retry = try await server.send(
                "POST", "/v1/webhooks/\(id)/deliveries/\(deliveryID)/retry", key: key)
            #expect(retry.status == 409)
            #expect(retry.json["error"]?["code"] == .string("webhook_disabled"))
            #expect(
                try await server.store.claim(
                    owner: "t", limit: 10, perWebhookLimit: 10, lease: .seconds(5), now: .now()
                ).isEmpty)
            let on = try await server.send("PATCH", "/v1/webhooks/\(id)", json: #"{"is_active":true}"#, key: key)
            #expect(on.json["held_deliveries"] == .number("0"))
            let released = try await server.store.claim(
                owner: "t", limit: 10, perWebhookLimit: 10, lease: .seconds(5), now: .now())
            #expect(released.count == 1)
        }
    }
}
