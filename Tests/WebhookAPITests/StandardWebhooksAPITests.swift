import Foundation
import Testing
import WebhookAPI
import WebhookCore
import WebhookStorage
import WebhookTestSupport

/// Secret rotation, custom headers and single deliveries through the API; every answer is checked
/// against the OpenAPI document by the test server.
@Suite(.timeLimit(.minutes(1))) struct StandardWebhooksAPITests {
    @Test func rotateSecretAnswersTheNewSecretOnceAndShowsWhenThePreviousExpires() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let id = try await server.createWebhook(key: key)
            let before = Timestamp.now()
            let rotated = try await server.send(
                "POST", "/v1/webhooks/\(id)/rotate-secret",
                json: #"{"secret":"rotated-secret-0123456789","previous_secret_expires_in":120}"#, key: key)
            #expect(rotated.status == 200, "\(rotated.text)")
            #expect(rotated.json["secret"] == .string("rotated-secret-0123456789"))
            #expect(rotated.json["secret_hint"] == .string("rota…"))
            #expect(rotated.json["previous_secret_hint"] == .string("test…"))
            let expires = try #require(
                Timestamp(iso8601: rotated.json["previous_secret_expires_at"]?.stringValue ?? ""))
            #expect(expires >= before.adding(milliseconds: 120_000) && expires <= .now().adding(milliseconds: 120_000))

            let shown = try await server.send("GET", "/v1/webhooks/\(id)", key: key)
            #expect(shown.json["secret"] == nil)
            #expect(!shown.text.contains("rotated-secret-0123456789") && !shown.text.contains("test-secret-0123456789"))
            #expect(shown.json["previous_secret_expires_at"] == rotated.json["previous_secret_expires_at"])
            let stored = try #require(try await server.store.webhook(id: id, workspaceID: "ws_1"))
            #expect(
                stored.rotation.signingSecrets(at: .now()) == ["rotated-secret-0123456789", "test-secret-0123456789"])

            // Generated, with no body at all, and no overlap: the old secrets stop at once.
            let generated = try await server.send(
                "POST", "/v1/webhooks/\(id)/rotate-secret", json: #"{"previous_secret_expires_in":0}"#, key: key)
            #expect(generated.status == 200, "\(generated.text)")
            let secret = try #require(generated.json["secret"]?.stringValue)
            #expect(
                secret.hasPrefix("whsec_") && generated.json["secret_hint"] == .string(String(secret.prefix(10)) + "…"))
            #expect(generated.json["previous_secret_expires_at"] == .null)
            let empty = try await server.send("POST", "/v1/webhooks/\(id)/rotate-secret", key: key)
            #expect(empty.status == 200, "\(empty.text)")
            let defaultOverlap = try #require(
                Timestamp(iso8601: empty.json["previous_secret_expires_at"]?.stringValue ?? ""))
            #expect(defaultOverlap > Timestamp.now().adding(milliseconds: 86_000_000))
            #expect(empty.json["previous_secret_hint"] == generated.json["secret_hint"])

            for (body, field) in [
                (#"{"previous_secret_expires_in":-1}"#, "previous_secret_expires_in"),
                (#"{"previous_secret_expires_in":2592001}"#, "previous_secret_expires_in"),
                (#"{"previous_secret_expires_in":1.5}"#, "previous_secret_expires_in"),
                (#"{"secret":"short"}"#, "secret"), (#"{"secret":"whsec_!!!!not-base64!!!!"}"#, "secret"),
                (#"{"overlap":5}"#, "overlap"),
            ] {
                let refused = try await server.send("POST", "/v1/webhooks/\(id)/rotate-secret", json: body, key: key)
                #expect(refused.status == 422, "\(body): \(refused.text)")
                #expect(refused.json["error"]?["field"] == .string(field), "\(body): \(refused.text)")
            }
            let other = try await server.key(for: "ws_2")
            #expect(try await server.send("POST", "/v1/webhooks/\(id)/rotate-secret", key: other).status == 404)
        }
    }

    @Test func customHeadersAreValidatedAndTheirValuesNeverShown() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let created = try await server.send(
                "POST", "/v1/webhooks",
                json:
                    #"{"url":"https://example.com/h","events":["*"],"headers":{"Authorization":"Bearer gw-token-0123456789","X-Route":"qr3"}}"#,
                key: key)
            #expect(created.status == 201, "\(created.text)")
            #expect(created.text.contains(#""headers":{"Authorization":"[redacted]","X-Route":"[redacted]"}"#))
            #expect(!created.text.contains("gw-token"))
            let id = try #require(created.json["id"]?.stringValue)
            let stored = try #require(try await server.store.webhook(id: id, workspaceID: "ws_1"))
            #expect(stored.headers.lines == ["Authorization: Bearer gw-token-0123456789", "X-Route: qr3"])

            for name in ["Content-Type", "content-length", "Host", "User-Agent", "X-QR3-Event-Id", "webhook-signature"]
            {
                let refused = try await server.send(
                    "PATCH", "/v1/webhooks/\(id)", json: #"{"headers":{"\#(name)":"x"}}"#, key: key)
                #expect(refused.status == 422, "\(name): \(refused.text)")
                #expect(refused.json["error"]?["field"] == .string("headers"))
                #expect(refused.json["error"]?["message"]?.stringValue?.contains("\"\(name)\" is reserved") == true)
            }
            let tooMany = "{" + (0..<11).map { #""X-H\#($0)":"v""# }.joined(separator: ",") + "}"
            for body in [
                #"{"headers":{"Bad Name":"x"}}"#, #"{"headers":{"X-A":"a\r\nX-B: b"}}"#, #"{"headers":{"X-A":1}}"#,
                #"{"headers":["X-A"]}"#, #"{"headers":\#(tooMany)}"#,
            ] {
                let refused = try await server.send("PATCH", "/v1/webhooks/\(id)", json: body, key: key)
                #expect(refused.status == 422, "\(body): \(refused.text)")
            }
            let cleared = try await server.send("PATCH", "/v1/webhooks/\(id)", json: #"{"headers":{}}"#, key: key)
            #expect(cleared.status == 200 && cleared.text.contains(#""headers":{}"#), "\(cleared.text)")
        }
    }

    @Test func oneDeliveryShowsTimingsTheRemoteAddressAndRedactedRequestHeaders() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let created = try await server.send(
                "POST", "/v1/webhooks",
                json:
                    #"{"url":"https://example.com/h","events":["*"],"headers":{"Authorization":"Bearer secret-token-x"}}"#,
                key: key)
            let id = try #require(created.json["id"]?.stringValue)
            var outcome = DeliveryOutcome.answered(status: 200, responseTimeMs: 4, excerpt: "ok")
            outcome.timings = TransferTimings(nameLookup: 52, connect: 171, tls: 2400, firstByte: 3950, total: 4020)
            outcome.remoteAddress = "93.184.215.14:443"
            // Signed as the daemon signs: the job carries its webhook-timestamp and signature count.
            let now = Timestamp.now()
            _ = try await server.store.enqueue(
                OutboxRow(
                    sequence: 0, eventID: "evt_one", workspaceID: "ws_1", type: "qr.created", data: Array("{}".utf8),
                    createdAt: now))
            _ = try await server.store.ingest(limit: 10, validator: OutboxValidator(), now: now)
            var jobs = try await server.store.claim(
                owner: "t", limit: 10, perWebhookLimit: 10, lease: .seconds(60), now: now)
            try #require(jobs.count == 1)
            jobs[0].signedAt = 1_800_000_000
            jobs[0].signatureCount = 2
            _ = try await server.store.record(
                [AttemptResult(job: jobs[0], outcome: outcome, finishedAt: now)], policy: RetryPolicy(),
                disableAfter: 10)

            let list = try await server.send("GET", "/v1/webhooks/\(id)/deliveries", key: key)
            #expect(list.status == 200)
            let listed = try #require(list.json["data"]?.arrayValue?.first)
            #expect(listed["remote_address"] == .string("93.184.215.14:443"))
            #expect(listed["request_headers"] == nil, "only a single delivery shows its request headers")
            #expect(
                list.text.contains(
                    #""timings":{"name_lookup_ms":0.052,"connect_ms":0.171,"tls_ms":2.4,"first_byte_ms":3.95,"total_ms":4.02}"#
                ))
            let deliveryID = try #require(listed["id"]?.stringValue)

            let one = try await server.send("GET", "/v1/webhooks/\(id)/deliveries/\(deliveryID)", key: key)
            #expect(one.status == 200, "\(one.text)")
            #expect(one.json["response_excerpt"] == .string("ok"))
            let headers = try #require(one.json["request_headers"])
            #expect(headers["X-QR3-Signature"] == .string("sha256=[redacted]"))
            #expect(headers["webhook-signature"] == .string("v1,[redacted] v1,[redacted]"))
            #expect(headers["webhook-id"] == .string("evt_one"))
            #expect(headers["webhook-timestamp"] == .string("1800000000"))
            #expect(headers["Authorization"] == .string("[redacted]"))
            #expect(headers["X-QR3-Webhook-Id"] == .string(id))
            #expect(!one.text.contains("secret-token") && !one.text.contains("test-secret"))

            #expect(try await server.send("GET", "/v1/webhooks/\(id)/deliveries/whd_missing", key: key).status == 404)
            let other = try await server.key(for: "ws_2")
            #expect(
                try await server.send("GET", "/v1/webhooks/\(id)/deliveries/\(deliveryID)", key: other).status == 404)
        }
    }
}
