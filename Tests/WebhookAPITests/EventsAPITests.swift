import Testing
import WebhookAPI
import WebhookCore
import WebhookStorage
import WebhookTestSupport

@Suite(.timeLimit(.minutes(1))) struct EventsAPITests {
    @Test func anEventBecomesTheSameOutboxRowAProducerWouldInsert() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let webhook = try await server.createWebhook(key: key, events: ["scan.created"])
            let posted = try await server.send(
                "POST", "/v1/events",
                json: #"{"type":"qr.scanned","event_id":"evt_api_1","data":{"z":1,"a":"ä/b","n":1.50}}"#,
                key: key
            )
            #expect(posted.status == 202, "\(posted.text)")
            #expect(posted.json["event_id"] == .string("evt_api_1"))
            #expect(posted.json["status"] == .string("queued"))
            let again = try await server.send(
                "POST", "/v1/events", json: #"{"type":"qr.scanned","event_id":"evt_api_1","data":{}}"#, key: key
            )
            #expect(again.status == 200)
            #expect(again.json["status"] == .string("duplicate"))

            let report = try await server.store.ingest(limit: 10, validator: OutboxValidator(), now: .now())
            #expect(report.events == 1)
            #expect(report.rejected.isEmpty)
            let jobs = try await server.store.claim(
                owner: "t", limit: 10, perWebhookLimit: 10, lease: .seconds(5), now: .now())
            let job = try #require(jobs.first)
            #expect(job.webhookID == webhook)
            let body = String(decoding: job.payload, as: UTF8.self)
            #expect(body.hasPrefix(#"{"id":"evt_api_1","type":"qr.scanned","created":""#))
            #expect(
                body.hasSuffix(#"","data":{"z":1,"a":"ä/b","n":1.5}}"#), "data keeps its key order, in canonical form")

            let generated = try await server.send(
                "POST", "/v1/events", json: #"{"type":"qr.created","data":{}}"#, key: key)
            #expect(generated.status == 202)
            #expect(generated.json["event_id"]?.stringValue?.hasPrefix("evt_") == true)
            let after = try await server.send(
                "POST", "/v1/events", json: #"{"type":"qr.scanned","event_id":"evt_api_1","data":{}}"#, key: key
            )
            #expect(after.json["status"] == .string("duplicate"), "an id taken in before is a duplicate too")
        }
    }

    @Test func eventsAreValidatedLikeOutboxRows() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let cases: [(String, Int, String, String?)] = [
                (#"{"type":"qr.bogus","data":{}}"#, 422, "invalid_value", "type"),
                (#"{"type":"webhook.ping","data":{}}"#, 422, "invalid_value", "type"),
                (#"{"type":"qr.created","data":[1]}"#, 422, "invalid_type", "data"),
                (#"{"type":"qr.created","data":"{}"}"#, 422, "invalid_type", "data"),
                (#"{"type":"qr.created"}"#, 422, "missing_field", "data"),
                (#"{"data":{}}"#, 422, "missing_field", "type"),
                (#"{"type":"qr.created","data":{},"event_id":""}"#, 422, "invalid_value", "event_id"),
                (#"{"type":"qr.created","data":{},"event_id":"has space"}"#, 422, "invalid_value", "event_id"),
                (#"{"type":"qr.created","data":{},"workspace_id":"ws_2"}"#, 422, "unknown_field", "workspace_id"),
                (
                    #"{"type":"qr.created","data":{"x":"\#(String(repeating: "y", count: 262_144))"}}"#, 422,
                    "invalid_value", "data"
                ),
                (
                    #"{"type":"qr.created","data":{"x":"\#(String(repeating: "y", count: 300_000))"}}"#, 413,
                    "body_too_large", nil
                ),
            ]
            for (body, status, code, field) in cases {
                let response = try await server.send("POST", "/v1/events", json: body, key: key)
                #expect(response.status == status, "\(body.prefix(80)): \(response.text.prefix(300))")
                #expect(response.errorCode == code, "\(body.prefix(80)): \(response.text.prefix(300))")
                #expect(response.errorField == field, "\(body.prefix(80)): \(response.text.prefix(300))")
            }
            let report = try await server.store.ingest(limit: 10, validator: OutboxValidator(), now: .now())
            #expect(report.isEmpty, "nothing reached the outbox")
        }
    }

    @Test func pingQueuesAWebhookPingForThatWebhookAlone() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let pinged = try await server.createWebhook(key: key)
            let other = try await server.createWebhook(key: key)
            let ping = try await server.send("POST", "/v1/webhooks/\(pinged)/ping", key: key)
            #expect(ping.status == 202)
            let eventID = try #require(ping.json["event_id"]?.stringValue)
            #expect(ping.json["event_type"] == .string("webhook.ping"))
            #expect(ping.json["webhook_id"] == .string(pinged))
            #expect(ping.json["deliveries_url"] == .string("/v1/webhooks/\(pinged)/deliveries?event_id=\(eventID)"))
            _ = try await server.store.ingest(limit: 10, validator: OutboxValidator(), now: .now())
            let jobs = try await server.store.claim(
                owner: "t", limit: 10, perWebhookLimit: 10, lease: .seconds(5), now: .now())
            #expect(jobs.map(\.webhookID) == [pinged], "not \(other)")
            #expect(jobs.first?.eventID == eventID)
            #expect(jobs.first?.eventType == "webhook.ping")
        }
    }

    @Test func retryMakesTheEventDueAgainNow() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let id = try await server.createWebhook(key: key)
            try await server.recordAttempts(
                workspace: "ws_1", outcomes: [.serverError], policy: RetryPolicy(schedule: [0]))
            let log = try await server.send("GET", "/v1/webhooks/\(id)/deliveries", key: key)
            let delivery = try #require(log.data.first)
            #expect(delivery["next_retry_at"] == .null, "the only attempt failed for good")
            let deliveryID = try #require(delivery["id"]?.stringValue)
            let before = try await server.store.claim(
                owner: "t", limit: 10, perWebhookLimit: 10, lease: .seconds(5), now: .now())
            #expect(before.isEmpty)

            let retried = try await server.send("POST", "/v1/webhooks/\(id)/deliveries/\(deliveryID)/retry", key: key)
            #expect(retried.status == 202, "\(retried.text)")
            #expect(retried.json["event_id"] == delivery["event_id"])
            #expect(retried.json["retried_delivery_id"] == .string(deliveryID))
            let after = try await server.store.claim(
                owner: "t", limit: 10, perWebhookLimit: 10, lease: .seconds(5), now: .now())
            #expect(after.map(\.eventID) == [delivery["event_id"]?.stringValue])
            #expect(after.first?.attempt == 2)

            let missing = try await server.send("POST", "/v1/webhooks/\(id)/deliveries/whd_nothing/retry", key: key)
            #expect(missing.status == 404)
            #expect(missing.errorField == "delivery_id")
        }
    }
}
