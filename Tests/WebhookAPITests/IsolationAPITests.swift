import Testing
import WebhookAPI
import WebhookCore
import WebhookStorage
import WebhookTestSupport

@Suite(.timeLimit(.minutes(1))) struct IsolationAPITests {
    @Test func everyV1CallNeedsAValidKey() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let id = try await server.createWebhook(key: key)
            let revoked = try await server.key(for: "ws_1")
            _ = try await server.store.revokeAPIKey(idOrPrefix: APIKeyMaterial(key: revoked).prefix, now: .now())
            let headers: [[(String, String)]] = [
                [],
                [("Authorization", "Basic dXNlcjpwYXNz")],
                [("Authorization", "Bearer")],
                [("Authorization", "Bearer qr3k_wrong")],
                [("Authorization", "Bearer " + String(key.dropLast()) + (key.hasSuffix("a") ? "b" : "a"))],
                [("Authorization", "Bearer \(revoked)")],
            ]
            for route in APIRoute.all where route.path.hasPrefix("/v1/") {
                let path = route.path.replacingOccurrences(of: "{id}", with: id).replacingOccurrences(
                    of: "{delivery_id}", with: "whd_x")
                for header in headers {
                    let response = try await server.send(route.method.rawValue, path, json: "{}", headers: header)
                    #expect(response.status == 401, "\(route.method) \(path) with \(header): \(response.text)")
                    #expect(response.errorCode == "unauthorized")
                    #expect(response.raw.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
                }
            }
            let unknownRoute = try await server.send("GET", "/v1/secret-things")
            #expect(unknownRoute.status == 401, "an unknown /v1 route does not reveal itself without a key")
            let lowerCase = try await server.send("GET", "/v1/webhooks", headers: [("Authorization", "bearer \(key)")])
            #expect(lowerCase.status == 200)
        }
    }

    @Test func aKeySeesOnlyItsOwnWorkspace() async throws {
        try await withAPIServer { server in
            let keyA = try await server.key(for: "ws_a")
            let keyB = try await server.key(for: "ws_b")
            let webhookA = try await server.createWebhook(key: keyA)
            let webhookB = try await server.createWebhook(key: keyB)
            try await server.recordAttempts(workspace: "ws_a", outcomes: [.serverError])
            let deliveryA = try #require(
                try await server.send("GET", "/v1/webhooks/\(webhookA)/deliveries", key: keyA).data.first?["id"]?
                    .stringValue
            )

            let listB = try await server.send("GET", "/v1/webhooks", key: keyB)
            #expect(listB.data.compactMap { $0["id"]?.stringValue } == [webhookB])

            let missing = "wh_" + String(repeating: "0", count: 20)
            let calls: [(String, String, String?)] = [
                ("GET", "/v1/webhooks/{id}", nil),
                ("PATCH", "/v1/webhooks/{id}", #"{"url":"https://attacker.example/"}"#),
                ("PATCH", "/v1/webhooks/{id}", #"{"is_active":false}"#),
                ("POST", "/v1/webhooks/{id}/ping", nil),
                ("GET", "/v1/webhooks/{id}/deliveries", nil),
                ("POST", "/v1/webhooks/{id}/deliveries/\(deliveryA)/retry", nil),
                ("DELETE", "/v1/webhooks/{id}", nil),
            ]
            for (method, template, body) in calls {
                let foreign = try await server.send(
                    method, template.replacingOccurrences(of: "{id}", with: webhookA), json: body, key: keyB
                )
                let absent = try await server.send(
                    method, template.replacingOccurrences(of: "{id}", with: missing), json: body, key: keyB
                )
                #expect(foreign.status == 404, "\(method) \(template): \(foreign.text)")
                #expect(absent.status == 404)
                #expect(
                    foreign.text.replacingOccurrences(of: webhookA, with: "ID")
                        == absent.text.replacingOccurrences(of: missing, with: "ID"),
                    "another workspace's webhook must look exactly like a missing one"
                )
            }
            // B's retry of A's delivery through B's own webhook finds nothing either.
            let crossed = try await server.send(
                "POST", "/v1/webhooks/\(webhookB)/deliveries/\(deliveryA)/retry", key: keyB)
            #expect(crossed.status == 404)

            // A's webhook is untouched and still A's.
            let stillA = try await server.send("GET", "/v1/webhooks/\(webhookA)", key: keyA)
            #expect(stillA.json["url"] == .string("https://example.com/hook"))
            #expect(stillA.json["is_active"] == .bool(true))
            #expect(try await server.send("GET", "/v1/webhooks/\(webhookA)/deliveries", key: keyA).data.count == 1)
            let outbox = try await server.store.ingest(limit: 10, validator: OutboxValidator(), now: .now())
            #expect(outbox.jobs == 0, "B's pings of A's webhook queued nothing")
        }
    }

    @Test func eventsPostedWithAKeyGoToItsWorkspaceOnly() async throws {
        try await withAPIServer { server in
            let keyA = try await server.key(for: "ws_a")
            let keyB = try await server.key(for: "ws_b")
            let webhookA = try await server.createWebhook(key: keyA)
            _ = try await server.createWebhook(key: keyB)
            let posted = try await server.send(
                "POST", "/v1/events", json: #"{"type":"qr.created","data":{}}"#, key: keyA)
            #expect(posted.status == 202)
            _ = try await server.store.ingest(limit: 10, validator: OutboxValidator(), now: .now())
            let jobs = try await server.store.claim(
                owner: "t", limit: 10, perWebhookLimit: 10, lease: .seconds(5), now: .now())
            #expect(jobs.map(\.webhookID) == [webhookA])
        }
    }
}
