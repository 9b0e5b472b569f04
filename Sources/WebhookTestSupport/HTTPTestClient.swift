import NIOCore
import NIOHTTP1
import NIOPosix

/// A minimal HTTP/1.1 client for tests: one request per connection, the whole answer collected.
///
/// ```swift
/// let client = HTTPTestClient(host: "127.0.0.1", port: port)
/// let response = try await client.send("GET", "/healthz")
/// #expect(response.status == 200)
/// ```
public struct HTTPTestClient: Sendable {
    public let host: String
    public let port: Int
    /// Headers sent with every request (e.g. `Authorization`).
    public var defaultHeaders: [(String, String)]

    public init(host: String, port: Int, defaultHeaders: [(String, String)] = []) {
        self.host = host
        self.port = port
        self.defaultHeaders = defaultHeaders
    }

    /// A copy that sends `Authorization: Bearer <key>`.
    public func authorized(_ key: String) -> HTTPTestClient {
        var copy = self
        copy.defaultHeaders.removeAll { $0.0.lowercased() == "authorization" }
        copy.defaultHeaders.append(("Authorization", "Bearer \(key)"))
        return copy
    }

    /// Sends `method path` with `body` (as given, no Content-Type unless in `headers`) and waits
    /// (at most `timeout`) for the whole answer.
    public func send(
        _ method: String,
        _ path: String,
        body: [UInt8]? = nil,
        headers: [(String, String)] = [],
        timeout: Duration = .seconds(30)
    ) async throws -> HTTPTestResponse {
        try await withThrowingTaskGroup(of: HTTPTestResponse?.self) { group in
            group.addTask { try await exchange(method, path, body: body, headers: headers) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            guard let first = try await group.next(), let response = first else {
                group.cancelAll()
                throw TestFailure("\(method) \(path): no answer within \(timeout)")
            }
            group.cancelAll()
            return response
        }
    }

    /// Sends a JSON body (`Content-Type: application/json`).
    public func send(_ method: String, _ path: String, json: String, headers: [(String, String)] = []) async throws
        -> HTTPTestResponse
    {
        try await send(method, path, body: Array(json.utf8), headers: [("Content-Type", "application/json")] + headers)
    }

    private func exchange(_ method: String, _ path: String, body: [UInt8]?, headers: [(String, String)]) async throws
        -> HTTPTestResponse
    {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel
                    )
                }
            }
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path)
        head.headers.add(name: "Host", value: "\(host):\(port)")
        head.headers.add(name: "Connection", value: "close")
        for (name, value) in defaultHeaders + headers { head.headers.add(name: name, value: value) }
        if let body { head.headers.add(name: "Content-Length", value: String(body.count)) }
        return try await channel.executeThenClose { inbound, outbound in
            do {
                try await outbound.write(.head(head))
                if let body, !body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                try await outbound.write(.end(nil))
            } catch {
                // The server may answer (413) and close before reading everything: read its answer anyway.
            }
            var status = 0
            var responseHeaders: [(String, String)] = []
            var received: [UInt8] = []
            for try await part in inbound {
                switch part {
                case .head(let responseHead):
                    status = Int(responseHead.status.code)
                    responseHeaders = responseHead.headers.map { ($0.name, $0.value) }
                case .body(let buffer):
                    received += Array(buffer.readableBytesView)
                case .end:
                    return HTTPTestResponse(status: status, headers: responseHeaders, body: received)
                }
            }
            throw TestFailure("\(method) \(path): the connection closed before a complete answer")
        }
    }
}

/// A complete HTTP answer.
public struct HTTPTestResponse: Sendable {
    public let status: Int
    public let headers: [(String, String)]
    public let body: [UInt8]

    /// The body as text.
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The first header called `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}
