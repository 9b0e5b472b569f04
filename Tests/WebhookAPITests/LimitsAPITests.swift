import Testing
import WebhookAPI
import WebhookCore

@Suite struct LimitsAPITests {
    @Test func aWorkspaceCannotHaveMoreWebhooksThanItsLimit() async throws {
        try await withAPIServer(configure: { $0.maximumWebhooksPerWorkspace = 3 }) { server in
            let key = try await server.key(for: "ws_1")
            for _ in 0..<3 { _ = try await server.createWebhook(key: key) }
            let refused = try await server.send(
                "POST", "/v1/webhooks", json: #"{"url":"https://example.com/h","events":["*"]}"#, key: key)
            #expect(refused.status == 422)
            #expect(refused.json["error"]?["code"] == .string("limit_reached"))
            #expect(refused.json["error"]?["message"]?.stringValue?.contains("max-webhooks-per-workspace") == true)
            // Another workspace has a limit of its own.
            let other = try await server.key(for: "ws_2")
            _ = try await server.createWebhook(key: other)
        }
    }

    @Test func aKeyOverItsRateLimitIsToldWhenToComeBack() async throws {
        try await withAPIServer(configure: { $0.rateLimit = 1 }) { server in
            let key = try await server.key(for: "ws_1")
            let other = try await server.key(for: "ws_2")
            var statuses: [Int] = []
            var retryAfter: String?
            // A burst of twice the rate passes, then 429s (one token a second comes back).
            for _ in 0..<10 {
                let response = try await server.send("GET", "/v1/webhooks", key: key)
                statuses.append(response.status)
                if response.status == 429 { retryAfter = retryAfter ?? response.raw.header("Retry-After") }
            }
            #expect(statuses.prefix(2).allSatisfy { $0 == 200 }, "\(statuses)")
            #expect(statuses.contains(429), "\(statuses)")
            #expect(retryAfter.flatMap(Int.init).map { $0 >= 1 } == true)
            // Each key has its own bucket.
            #expect(try await server.send("GET", "/v1/webhooks", key: other).status == 200)
        }
    }
}
