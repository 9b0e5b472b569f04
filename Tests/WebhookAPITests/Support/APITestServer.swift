import Foundation
import Logging
import ServiceLifecycle
import Testing
import WebhookAPI
import WebhookCore
import WebhookSQLite
import WebhookStorage
import WebhookTestSupport

/// The API server started in this process on 127.0.0.1 port 0, over a real SQLite file in a
/// temporary folder. Every answer that goes through ``send(_:_:json:key:)`` is checked against the
/// OpenAPI document.
final class APITestServer: Sendable {
    let directory: TemporaryDirectory
    let store: SQLiteWebhookStore
    /// The store's health as a daemon's delivery loop would report it.
    let health = StoreHealth()
    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    /// Starts a server; `allowing` opens address blocks as the daemon's allow-networks does.
    /// `configure` changes the server's settings further; the rate limit is off unless it sets one.
    init(
        allowing networks: [String] = [], maximumEventBytes: Int = 256 * 1024,
        configure: (inout APIConfiguration) -> Void = { _ in }
    ) async throws {
        var logger = Logger(label: "qr3.api.test")
        logger.logLevel = .warning
        directory = try TemporaryDirectory(prefix: "qr3-api")
        store = try SQLiteWebhookStore(path: directory.file("webhooks.sqlite"), logger: logger)
        var configuration = APIConfiguration()
        configuration.listen = ListenAddress(host: "127.0.0.1", port: 0)
        configuration.addressPolicy = AddressPolicy(allowing: try networks.map { try CIDR($0) })
        configuration.maximumEventBytes = maximumEventBytes
        configuration.rateLimit = nil
        configure(&configuration)
        let server = APIServer(store: store, configuration: configuration, health: health, logger: logger)
        let group = ServiceGroup(services: [server], logger: logger)
        self.group = group
        task = Task { try await group.run() }
        guard let address = await server.waitUntilListening() else {
            throw TestFailure("the API server stopped before it listened")
        }
        port = address.port
    }

    /// Stops the server gracefully and deletes the database.
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        directory.remove()
    }

    /// A client without a key.
    var client: HTTPTestClient { HTTPTestClient(host: "127.0.0.1", port: port) }

    /// A new API key for `workspace`.
    func key(for workspace: String) async throws -> String {
        let material = APIKeyMaterial.generate()
        _ = try await store.createAPIKey(
            NewAPIKey(workspaceID: workspace, name: "test", material: material), now: .now())
        return material.key
    }

    /// Sends a request (with `key` when given), checks the answer against the OpenAPI document and
    /// returns it with its parsed body.
    func send(
        _ method: String,
        _ path: String,
        json: String? = nil,
        body: [UInt8]? = nil,
        key: String? = nil,
        headers: [(String, String)] = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> APIResponse {
        var client = self.client
        if let key { client = client.authorized(key) }
        var extra = headers
        var bytes = body
        if let json {
            bytes = Array(json.utf8)
            extra.append(("Content-Type", "application/json"))
        }
        let response = try await client.send(method, path, body: bytes, headers: extra)
        let parsed = try? JSONValue.parse(response.body)
        for problem in OpenAPIChecker.shared.check(method: method, path: path, status: response.status, body: parsed) {
            Issue.record(
                "\(method) \(path) → \(response.status): \(problem)\n\(response.text)", sourceLocation: sourceLocation)
        }
        #expect(
            response.status < 500, "\(method) \(path) answered \(response.status): \(response.text)",
            sourceLocation: sourceLocation)
        return APIResponse(raw: response, json: parsed ?? .null)
    }

    /// Creates a webhook through the API and returns its id.
    func createWebhook(key: String, url: String = "https://example.com/hook", events: [String] = ["*"]) async throws
        -> String
    {
        let events = "[" + events.map { "\"\($0)\"" }.joined(separator: ",") + "]"
        let response = try await send(
            "POST", "/v1/webhooks", json: #"{"url":"\#(url)","events":\#(events),"secret":"test-secret-0123456789"}"#,
            key: key
        )
        guard response.status == 201, let id = response.json["id"]?.stringValue else {
            throw TestFailure("cannot create a webhook: \(response.raw.text)")
        }
        return id
    }
}

/// An answer and its JSON body (`.null` when the body is not JSON).
struct APIResponse {
    let raw: HTTPTestResponse
    let json: JSONValue

    var status: Int { raw.status }
    var text: String { raw.text }
    /// `error.code` of an error answer.
    var errorCode: String? { json["error"]?["code"]?.stringValue }
    var errorField: String? { json["error"]?["field"]?.stringValue }
    var errorMessage: String { json["error"]?["message"]?.stringValue ?? "" }
    /// The `data` array of a list.
    var data: [JSONValue] { json["data"]?.arrayValue ?? [] }
    var hasMore: Bool { json["has_more"] == .bool(true) }
}

/// Runs `body` with a fresh server and stops it afterwards, whatever happens.
func withAPIServer(
    allowing networks: [String] = [],
    configure: (inout APIConfiguration) -> Void = { _ in },
    _ body: (APITestServer) async throws -> Void
) async throws {
    let server = try await APITestServer(allowing: networks, configure: configure)
    do {
        try await body(server)
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}

/// The repository's root folder.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
