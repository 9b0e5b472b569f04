import Foundation
import Testing
import WebhookAPI
import WebhookCore
import WebhookSQLite
import WebhookStorage
import WebhookTestSupport

/// A failing database is a 503 with the reason, never a 500: `/healthz` while the daemon finds it
/// failing, and any call the store cannot serve.
@Suite(.timeLimit(.minutes(1))) struct StoreFaultAPITests {
    @Test func healthzAnswers503WithTheReasonWhileTheDatabaseFailsAnd200After() async throws {
        try await withAPIServer { server in
            #expect(try await server.send("GET", "/healthz").status == 200)
            server.health.failing(
                StoreFault(.diskFull, detail: "database or disk is full"), tries: 4, resultsWaiting: 12)
            let failing = try await server.client.send("GET", "/healthz")
            #expect(failing.status == 503)
            #expect(failing.header("Retry-After") == "5")
            let message = try #require(try JSONValue.parse(failing.body)["error"]?["message"]?.stringValue)
            #expect(message.hasPrefix("the database fails (disk full: database or disk is full) for "), "\(message)")
            #expect(message.contains("12 results wait in memory"), "\(message)")
            #expect(message.hasSuffix("free space on the filesystem holding the database"), "\(message)")
            Self.expectDocumented("GET", "/healthz", failing)

            server.health.recovered()
            #expect(try await server.send("GET", "/healthz").status == 200)
        }
    }

    @Test func aWriteTheDatabaseCannotTakeIsA503NamingTheFaultNotA500() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            // The file is removed under the open store; the daemon's housekeeping notices.
            try FileManager.default.removeItem(atPath: server.store.path)
            await #expect(throws: DatabaseFileMovedError.self) { try await server.store.maintain() }
            let created = try await server.client.authorized(key).send(
                "POST", "/v1/webhooks", body: Array(#"{"url":"https://example.com/h","events":["*"]}"#.utf8),
                headers: [("Content-Type", "application/json")])
            #expect(created.status == 503, "\(created.status) \(created.text)")
            #expect(created.header("Retry-After") == "5")
            let error = try JSONValue.parse(created.body)["error"]
            #expect(error?["code"]?.stringValue == "unavailable")
            #expect(
                error?["message"]?.stringValue
                    == "the database cannot serve this request now (database file removed or replaced); "
                    + "the request was not completed; try again in a few seconds")
            Self.expectDocumented("POST", "/v1/webhooks", created)
            let listed = try await server.client.authorized(key).send("GET", "/v1/webhooks")
            #expect(listed.status == 503, "reads of a removed file are refused too: \(listed.text)")
        }
    }

    static func expectDocumented(
        _ method: String, _ path: String, _ response: HTTPTestResponse,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let problems = OpenAPIChecker.shared.check(
            method: method, path: path, status: response.status, body: try? JSONValue.parse(response.body))
        #expect(problems.isEmpty, "\(problems)", sourceLocation: sourceLocation)
    }
}
