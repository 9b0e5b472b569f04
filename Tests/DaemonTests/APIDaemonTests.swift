import Foundation
import Synchronization
import Testing
import WebhookCore
import WebhookTestSupport

/// The API inside the real daemon binary: started on port 0, found through its "API listening" log.
@Suite(.timeLimit(.minutes(2))) struct APIDaemonTests {
    @Test func aPingReachesTheReceiverSignedAndShowsInTheDeliveryLog() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let receiver = try await TestReceiver.start()
        defer { Task { try? await receiver.shutdown() } }
        let key = try harness.apiKey()
        let daemon = try await harness.startDaemon()
        defer { daemon.stop() }
        let api = try await harness.apiClient(daemon).authorized(key)

        let created = try await api.send(
            "POST", "/v1/webhooks",
            json: #"{"url":"\#(receiver.url)","events":["qr.scanned"],"secret":"ping-secret-0123456789"}"#
        )
        #expect(created.status == 201, "\(created.text)")
        let webhook = try #require(try object(created)["id"] as? String)
        let ping = try await api.send("POST", "/v1/webhooks/\(webhook)/ping")
        #expect(ping.status == 202, "\(ping.text)")
        let eventID = try #require(try object(ping)["event_id"] as? String)

        let request = try #require(try await receiver.waitForRequests(count: 1).first)
        #expect(request.header("X-QR3-Event-Type") == "webhook.ping")
        #expect(request.header("X-QR3-Event-Id") == eventID)
        #expect(request.header("X-QR3-Webhook-Id") == webhook)
        let signature = try #require(request.header("X-QR3-Signature"))
        #expect(WebhookSignature.verify(header: signature, body: request.body, secret: "ping-secret-0123456789"))
        #expect(request.bodyText.hasPrefix(#"{"id":"\#(eventID)","type":"webhook.ping","created":""#))

        try await daemon.waitForLog("Delivered")
        let log = try await api.send("GET", "/v1/webhooks/\(webhook)/deliveries?event_id=\(eventID)")
        let entries = try #require(try object(log)["data"] as? [[String: Any]])
        #expect(entries.count == 1)
        #expect(entries.first?["status"] as? String == "success")
        #expect(entries.first?["status_code"] as? Int == 200)
        #expect(entries.first?["event_type"] as? String == "webhook.ping")
        #expect(entries.first?["attempt"] as? Int == 1)
        #expect(!daemon.log.contains("ping-secret-0123456789"), "the secret is never logged")
        #expect(!daemon.log.contains(key), "the API key is never logged")
    }

    @Test func aManualRetryResendsAFailedDeliveryNow() async throws {
        let harness = try Harness(retrySchedule: "0")
        defer { harness.remove() }
        let answered = Mutex(0)
        let receiver = try await TestReceiver.start { _ in
            let count = answered.withLock { count -> Int in
                count += 1
                return count
            }
            return count == 1 ? .status(500, body: "not yet") : .status(200)
        }
        defer { Task { try? await receiver.shutdown() } }
        let key = try harness.apiKey()
        let daemon = try await harness.startDaemon()
        defer { daemon.stop() }
        let api = try await harness.apiClient(daemon).authorized(key)
        let created = try await api.send("POST", "/v1/webhooks", json: #"{"url":"\#(receiver.url)","events":["*"]}"#)
        let webhook = try #require(try object(created)["id"] as? String)
        let event = try await api.send(
            "POST", "/v1/events", json: #"{"type":"qr.created","data":{"code_id":"qr_1"},"event_id":"evt_retry"}"#)
        #expect(event.status == 202, "\(event.text)")

        _ = try await receiver.waitForRequests(count: 1)
        try await daemon.waitForLog("Delivery failed after its last attempt")
        let failed = try #require(
            try object(await api.send("GET", "/v1/webhooks/\(webhook)/deliveries"))["data"] as? [[String: Any]])
        #expect(failed.count == 1)
        #expect(failed.first?["status"] as? String == "failed")
        #expect(failed.first?["status_code"] as? Int == 500)
        #expect(failed.first?["failure_class"] as? String == "http_status")
        #expect(failed.first?["response_excerpt"] as? String == "not yet")
        let deliveryID = try #require(failed.first?["id"] as? String)

        let retry = try await api.send("POST", "/v1/webhooks/\(webhook)/deliveries/\(deliveryID)/retry")
        #expect(retry.status == 202, "\(retry.text)")
        let requests = try await receiver.waitForRequests(count: 2)
        #expect(requests[1].header("X-QR3-Event-Id") == "evt_retry")
        #expect(requests[1].header("X-QR3-Delivery-Attempt") == "2")
        #expect(requests[1].body == requests[0].body, "the same signed body")
        try await daemon.waitForLog("Delivered")
        let log = try #require(
            try object(await api.send("GET", "/v1/webhooks/\(webhook)/deliveries"))["data"] as? [[String: Any]])
        #expect(log.map { $0["status"] as? String } == ["success", "failed"])
    }

    @Test func modesSplitTheAPIFromDelivery() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let deliveryOnly = try await harness.startDaemon(["--no-api"])
        defer { deliveryOnly.stop() }
        #expect(deliveryOnly.log.contains("mode=delivery"))
        let apiOnly = try await harness.startDaemon(["--api-only"])
        defer { apiOnly.stop() }
        #expect(apiOnly.log.contains("mode=api"))
        let health = try await harness.apiClient(apiOnly).send("GET", "/healthz")
        #expect(health.status == 200)
        for daemon in [deliveryOnly, apiOnly] {
            daemon.send(SIGTERM)
            #expect(try await daemon.waitForExit() == 0)
        }
        #expect(!deliveryOnly.log.contains("API listening"))
        #expect(!apiOnly.log.contains("Draining deliveries"))

        let both = try harness.cli(["run", "--no-api", "--api-only"], expectSuccess: false)
        #expect(both.status != 0)
        let listen = try harness.cli(["run", "--listen", "8080"], expectSuccess: false)
        #expect(listen.status != 0)
        #expect(listen.stderr.contains("listen"))
        let mode = try harness.cli(["run", "--mode", "sometimes"], expectSuccess: false)
        #expect(mode.stderr.contains("mode"))
    }

    @Test func apiKeysAreCreatedListedByPrefixAndRevoked() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let key = try harness.apiKey(workspace: "ws_keys")
        #expect(key.hasPrefix("qr3k_"))
        let listed = try harness.cli(["api-keys", "list", "--workspace", "ws_keys"]).stdout
        let prefix = String(key.prefix(13))
        #expect(listed.contains(prefix))
        #expect(!listed.contains(key), "the key itself is never shown again")
        let daemon = try await harness.startDaemon()
        defer { daemon.stop() }
        let api = try await harness.apiClient(daemon).authorized(key)
        #expect(try await api.send("GET", "/v1/webhooks").status == 200)
        let revoked = try harness.cli(["api-keys", "revoke", prefix]).stdout
        #expect(revoked.contains("revoked"))
        #expect(try await api.send("GET", "/v1/webhooks").status == 401)
        let listedAfter = try harness.cli(["api-keys", "list", "--json"]).stdout
        let keys = try JSONSerialization.jsonObject(with: Data(listedAfter.utf8)) as? [[String: Any]]
        #expect(keys?.first?["revoked_at"] is String)
        let unknown = try harness.cli(["api-keys", "revoke", "qr3k_nothing1"], expectSuccess: false)
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("no API key"))
    }
}

extension Harness {
    /// A new API key for `workspace`, through the CLI.
    func apiKey(workspace: String = "ws_test") throws -> String {
        let output = try cli(["api-keys", "create", "--workspace", workspace, "--json"]).stdout
        let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        guard let key = object?["key"] as? String else { throw TestFailure("no key in \(output)") }
        return key
    }

    /// A client for the API of `daemon`, at the address it logged.
    func apiClient(_ daemon: DaemonProcess) async throws -> HTTPTestClient {
        try await daemon.waitForLog("API listening")
        guard let line = daemon.log.split(separator: "\n").first(where: { $0.contains("API listening") }),
            let field = line.split(separator: " ").first(where: { $0.hasPrefix("address=") }),
            let colon = field.lastIndex(of: ":"), let port = Int(field[field.index(after: colon)...])
        else { throw TestFailure("no API address in the log:\n\(daemon.log)") }
        return HTTPTestClient(host: "127.0.0.1", port: port)
    }
}

/// The JSON object of an answer.
func object(_ response: HTTPTestResponse) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else {
        throw TestFailure("not a JSON object: \(response.text)")
    }
    return object
}
