import Testing
import WebhookAPI
import WebhookCore
import WebhookTestSupport

@Suite(.timeLimit(.minutes(1))) struct PaginationAPITests {
    @Test func walkingWebhooksPageByPageSeesEachExactlyOnce() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            var created = Set<String>()
            for index in 0..<23 {
                created.insert(try await server.createWebhook(key: key, url: "https://example.com/\(index)"))
            }
            _ = try await server.createWebhook(key: try await server.key(for: "ws_other"))
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let path = "/v1/webhooks?limit=5" + (cursor.map { "&starting_after=\($0)" } ?? "")
                let page = try await server.send("GET", path, key: key)
                #expect(page.status == 200)
                let ids = page.data.compactMap { $0["id"]?.stringValue }
                #expect(ids.count <= 5)
                seen += ids
                pages += 1
                cursor = page.hasMore ? ids.last : nil
                if page.hasMore { #expect(ids.count == 5) }
            } while cursor != nil && pages < 20
            #expect(pages == 5)
            #expect(seen.count == 23, "no repeats")
            #expect(Set(seen) == created, "no gaps, nothing of another workspace")
            #expect(seen == seen.sorted(), "in id order")
            let all = try await server.send("GET", "/v1/webhooks?limit=100", key: key)
            #expect(all.data.count == 23)
            #expect(!all.hasMore)
            let firstPage = try await server.send("GET", "/v1/webhooks", key: key)
            #expect(firstPage.data.count == 20, "the default limit is 20")
            #expect(firstPage.hasMore)
        }
    }

    @Test func walkingTheDeliveryLogNewestFirstWithFilters() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let id = try await server.createWebhook(key: key)
            let outcomes: [DeliveryOutcome] = (0..<11).map { $0 % 3 == 0 ? .serverError : .ok }
            try await server.recordAttempts(workspace: "ws_1", outcomes: outcomes)
            try await server.recordAttempts(workspace: "ws_1", type: "qr.created", outcomes: [.timedOut, .ok])

            var seen: [JSONValue] = []
            var cursor: String?
            var pages = 0
            repeat {
                let path = "/v1/webhooks/\(id)/deliveries?limit=4" + (cursor.map { "&starting_after=\($0)" } ?? "")
                let page = try await server.send("GET", path, key: key)
                #expect(page.status == 200)
                seen += page.data
                pages += 1
                cursor = page.hasMore ? page.data.last?["id"]?.stringValue : nil
            } while cursor != nil && pages < 20
            #expect(pages == 4)
            let ids = seen.compactMap { $0["id"]?.stringValue }
            #expect(ids.count == 13)
            #expect(Set(ids).count == 13, "no repeats")
            #expect(seen.first?["event_type"] == .string("qr.created"), "newest first")
            #expect(seen.first?["status"] == .string("success"))
            let timeout = try #require(seen.dropFirst().first)
            #expect(timeout["status"] == .string("failed"))
            #expect(timeout["status_code"] == .null)
            #expect(timeout["failure_class"] == .string("timeout"))
            #expect(timeout["next_retry_at"]?.stringValue != nil, "a retry is scheduled after the first failure")
            let times = seen.compactMap { $0["created_at"]?.stringValue }
            #expect(times == times.sorted(by: >))

            let failed = try await server.send("GET", "/v1/webhooks/\(id)/deliveries?status=failed&limit=100", key: key)
            #expect(failed.data.count == 5)
            #expect(failed.data.allSatisfy { $0["status"] == .string("failed") })
            let created = try await server.send("GET", "/v1/webhooks/\(id)/deliveries?event_type=qr.created", key: key)
            #expect(created.data.count == 2)
            let both = try await server.send(
                "GET", "/v1/webhooks/\(id)/deliveries?event_type=qr.scanned&status=success&limit=2", key: key
            )
            #expect(both.data.count == 2)
            #expect(both.hasMore)
            let eventID = try #require(seen.first?["event_id"]?.stringValue)
            let one = try await server.send("GET", "/v1/webhooks/\(id)/deliveries?event_id=\(eventID)", key: key)
            #expect(one.data.compactMap { $0["event_id"]?.stringValue } == [eventID])
        }
    }
}
