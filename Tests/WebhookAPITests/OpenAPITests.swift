import Foundation
import Testing
import WebhookAPI
import WebhookTestSupport

@Suite(.timeLimit(.minutes(1))) struct OpenAPITests {
    @Test func theEmbeddedDocumentIsTheFileInTheRepository() throws {
        let file = try String(
            contentsOf: repositoryRoot.appendingPathComponent("openapi/openapi.json"), encoding: .utf8)
        #expect(
            OpenAPIDocument.json + "\n" == file,
            "openapi/openapi.json changed: run scripts/embed-openapi and commit the result")
    }

    @Test func theDocumentDescribesExactlyTheRoutesTheServerAnswers() throws {
        let document = OpenAPIChecker.shared.document
        #expect(document["openapi"] == .string("3.1.0"))
        var documented = Set<String>()
        guard case .object(let paths) = document["paths"] ?? .null else {
            Issue.record("no paths")
            return
        }
        for path in paths {
            guard case .object(let operations) = path.value else { continue }
            for operation in operations where operation.key != "parameters" {
                documented.insert(
                    "\(operation.key.uppercased()) \(path.key) \(operation.value["operationId"]?.stringValue ?? "?")")
            }
        }
        let served = Set(APIRoute.all.map { "\($0.method.rawValue) \($0.path) \($0.operationID)" })
        #expect(documented == served)
    }

    @Test func theServerServesTheDocument() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let served = try await server.send("GET", "/v1/openapi.json", key: key)
            #expect(served.status == 200)
            #expect(served.text == OpenAPIDocument.json)
            #expect(served.json == OpenAPIChecker.shared.document)
        }
    }

    /// Every operation's answers, good and bad, checked against the document by ``APITestServer``.
    @Test func realAnswersOfEveryOperationMatchTheDocument() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let id = try await server.createWebhook(key: key)
            try await server.recordAttempts(workspace: "ws_1", outcomes: [.ok, .serverError, .timedOut])
            let log = try await server.send("GET", "/v1/webhooks/\(id)/deliveries", key: key)
            #expect(log.data.count == 3)
            let deliveryID = try #require(log.data.first?["id"]?.stringValue)
            var statuses: [String: Set<Int>] = [:]
            let requests: [(String, String, String?)] = [
                ("GET", "/healthz", nil), ("GET", "/v1/openapi.json", nil), ("GET", "/v1/event-types", nil),
                ("POST", "/v1/events", #"{"type":"qr.created","data":{},"event_id":"evt_oa"}"#),
                ("POST", "/v1/events", #"{"type":"qr.created","data":{},"event_id":"evt_oa"}"#),
                ("POST", "/v1/events", #"{"type":"nope","data":{}}"#),
                ("POST", "/v1/webhooks", #"{"url":"https://example.com/x","events":["qr.created"]}"#),
                ("POST", "/v1/webhooks", #"{"url":"https://example.com/x"}"#), ("POST", "/v1/webhooks", "{"),
                ("GET", "/v1/webhooks?limit=1", nil), ("GET", "/v1/webhooks?limit=x", nil),
                ("GET", "/v1/webhooks/\(id)", nil), ("GET", "/v1/webhooks/wh_missing", nil),
                ("PATCH", "/v1/webhooks/\(id)", #"{"events":["*"]}"#), ("PATCH", "/v1/webhooks/\(id)", #"{"x":1}"#),
                ("POST", "/v1/webhooks/\(id)/ping", nil), ("POST", "/v1/webhooks/wh_missing/ping", nil),
                ("GET", "/v1/webhooks/\(id)/deliveries?limit=2", nil),
                ("GET", "/v1/webhooks/\(id)/deliveries?status=x", nil),
                ("POST", "/v1/webhooks/\(id)/deliveries/\(deliveryID)/retry", nil),
                ("POST", "/v1/webhooks/\(id)/deliveries/whd_missing/retry", nil),
                ("PUT", "/v1/webhooks", nil), ("GET", "/nowhere", nil),
                ("DELETE", "/v1/webhooks/\(id)", nil), ("DELETE", "/v1/webhooks/\(id)", nil),
            ]
            for (method, path, body) in requests {
                let response = try await server.send(method, path, json: body, key: key)
                statuses[method + " " + path.split(separator: "?")[0], default: []].insert(response.status)
            }
            let unauthorized = try await server.send("GET", "/v1/webhooks")
            #expect(unauthorized.status == 401)
            #expect(statuses["POST /v1/events"] == [202, 200, 422])
            #expect(statuses["POST /v1/webhooks"] == [201, 422, 400])
            #expect(statuses["DELETE /v1/webhooks/\(id)"] == [200, 404])
        }
    }
}
