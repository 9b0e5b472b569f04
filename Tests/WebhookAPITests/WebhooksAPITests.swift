import Foundation
import Testing
import WebhookAPI
import WebhookCore
import WebhookStorage
import WebhookTestSupport

@Suite(.timeLimit(.minutes(1))) struct WebhooksAPITests {
    @Test func theDocumentedCreateRequestReturnsTheDocumentedResponse() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_docs")
            let created = try await server.send(
                "POST", "/v1/webhooks",
                json:
                    #"{ "url": "https://example.com/webhooks/qr3", "events": ["qr.scanned", "qr.created"], "secret": "my-secret-key-min-16-chars" }"#,
                key: key
            )
            #expect(created.status == 201)
            let id = try #require(created.json["id"]?.stringValue)
            #expect(id.hasPrefix("wh_"))
            #expect(created.raw.header("Location") == "/v1/webhooks/\(id)")
            #expect(created.raw.header("Content-Type")?.hasPrefix("application/json") == true)
            // The documented fields, in the documented order, with the documented values.
            let documented =
                #"{"id":"\#(id)","url":"https://example.com/webhooks/qr3","events":["qr.scanned","qr.created"],"#
                + #""is_active":true,"secret":"my-secret-key-min-16-chars","secret_hint":"my-s…","created_at":""#
            #expect(created.text.hasPrefix(documented), "\(created.text)")
            let createdAt = try #require(created.json["created_at"]?.stringValue)
            #expect(createdAt.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil)

            let shown = try await server.send("GET", "/v1/webhooks/\(id)", key: key)
            #expect(shown.status == 200)
            #expect(shown.json["secret"] == nil, "the secret is never returned after creation")
            #expect(shown.json["secret_hint"] == .string("my-s…"))
            #expect(shown.json["created_at"] == .string(createdAt))
            #expect(!shown.text.contains("my-secret-key-min-16-chars"))
        }
    }

    @Test func aSecretLeftOutIsGeneratedAndShownOnce() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let created = try await server.send(
                "POST", "/v1/webhooks", json: #"{"url":"https://example.com/h","events":["*"]}"#, key: key
            )
            #expect(created.status == 201)
            let secret = try #require(created.json["secret"]?.stringValue)
            #expect(secret.count >= 16)
            #expect(secret.hasPrefix("whsec_"))
            #expect(
                created.json["secret_hint"] == .string(String(secret.prefix(10)) + "…"),
                "a generated secret's hint goes past whsec_")
            let listed = try await server.send("GET", "/v1/webhooks", key: key)
            #expect(!listed.text.contains(secret))
        }
    }

    @Test func patchChangesFieldsAndReactivatingResetsTheFailureCount() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let id = try await server.createWebhook(key: key)
            try await server.recordAttempts(
                workspace: "ws_1",
                outcomes: [.serverError, .serverError],
                policy: RetryPolicy(schedule: [0]),
                disableAfter: 2
            )
            let disabled = try await server.send("GET", "/v1/webhooks/\(id)", key: key)
            #expect(disabled.json["is_active"] == .bool(false))
            #expect(disabled.json["consecutive_failures"] == .number("2"))
            #expect(disabled.json["disabled_reason"]?.stringValue != nil)

            let reactivated = try await server.send(
                "PATCH", "/v1/webhooks/\(id)", json: #"{"is_active":true}"#, key: key)
            #expect(reactivated.status == 200)
            #expect(reactivated.json["is_active"] == .bool(true))
            #expect(reactivated.json["consecutive_failures"] == .number("0"))
            #expect(reactivated.json["disabled_reason"] == .null)
            #expect(reactivated.json["disabled_at"] == .null)

            let changed = try await server.send(
                "PATCH", "/v1/webhooks/\(id)",
                json: #"{"url":"https://example.org/new","events":["qr.deleted"],"secret":"another-secret-of-16+"}"#,
                key: key
            )
            #expect(changed.status == 200)
            #expect(changed.json["url"] == .string("https://example.org/new"))
            #expect(changed.json["events"] == .array([.string("qr.deleted")]))
            #expect(changed.json["secret_hint"] == .string("anot…"))
            #expect(changed.json["secret"] == nil)

            let off = try await server.send("PATCH", "/v1/webhooks/\(id)", json: #"{"is_active":false}"#, key: key)
            #expect(off.json["is_active"] == .bool(false))
        }
    }

    @Test func deleteRemovesTheWebhookAndStopsItsQueuedDeliveries() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let id = try await server.createWebhook(key: key)
            _ = try await server.store.enqueue(
                OutboxRow(
                    sequence: 0, eventID: nil, workspaceID: "ws_1", type: "qr.created", data: Array("{}".utf8),
                    createdAt: .now())
            )
            _ = try await server.store.ingest(limit: 10, validator: OutboxValidator(), now: .now())
            let deleted = try await server.send("DELETE", "/v1/webhooks/\(id)", key: key)
            #expect(deleted.status == 200)
            #expect(deleted.json["id"] == .string(id))
            #expect(deleted.json["deleted"] == .bool(true))
            #expect(try await server.send("GET", "/v1/webhooks/\(id)", key: key).status == 404)
            #expect(try await server.send("DELETE", "/v1/webhooks/\(id)", key: key).status == 404)
            #expect(try await server.send("GET", "/v1/webhooks", key: key).data.isEmpty)
            let claimed = try await server.store.claim(
                owner: "t", limit: 10, perWebhookLimit: 10, lease: .seconds(5), now: .now())
            #expect(claimed.isEmpty, "the deleted webhook's queued job is cancelled")
        }
    }

    @Test func eventTypesListsEveryTypeAndTheWildcard() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let types = try await server.send("GET", "/v1/event-types", key: key)
            #expect(types.status == 200)
            let names = types.data.compactMap { $0["type"]?.stringValue }
            #expect(names == ["*"] + EventType.allCases.map(\.rawValue))
        }
    }

    @Test func healthzAnswersWithoutAKey() async throws {
        try await withAPIServer { server in
            let health = try await server.send("GET", "/healthz")
            #expect(health.status == 200)
            #expect(health.json["status"] == .string("ok"))
        }
    }
}
