import NIOCore
import NIOHTTP1
import NIOPosix

/// A real HTTP/1.1 server on 127.0.0.1 (a free port) for tests: records every request and
/// answers as `behaviour` says. Keep-alive and pipelining work as with any server.
///
/// ```swift
/// let receiver = try await TestReceiver.start { _ in .status(500, body: "down") }
/// // ... send to receiver.url ...
/// let requests = try await receiver.waitForRequests(count: 1)
/// try await receiver.shutdown()
/// ```
public final class TestReceiver: Sendable {
    /// The port the receiver listens on.
    public let port: Int
    private let serverChannel: any Channel
    private let log: RequestLog

    private init(port: Int, serverChannel: any Channel, log: RequestLog) {
        self.port = port
        self.serverChannel = serverChannel
        self.log = log
    }

    deinit {
        serverChannel.close(promise: nil)
    }

    /// A receiver on a port below the kernel's ephemeral range (32768 and up), for a test that
    /// stops it and starts it again on the same port: no outgoing connection of this machine can
    /// take such a port as its source meanwhile, as one could take a port the kernel handed out.
    public static func startOnAFixedPort(
        behaviour: @escaping @Sendable (ReceivedRequest) -> Response = { _ in .status(200) }
    ) async throws -> TestReceiver {
        var lastError: (any Error)?
        for _ in 0..<50 {
            do {
                return try await start(port: Int.random(in: 20_000..<32_000), behaviour: behaviour)
            } catch {
                lastError = error
            }
        }
        throw lastError ?? TestReceiverError.shutDown
    }

    /// Starts a receiver; `behaviour` is called on an event loop for each complete request.
    ///
    /// `port` 0 takes a free one; a receiver that was shut down can be started again on its port
    /// (a receiver that goes away and comes back, as in an outage).
    public static func start(
        port requestedPort: Int = 0,
        behaviour: @escaping @Sendable (ReceivedRequest) -> Response = { _ in .status(200) }
    ) async throws -> TestReceiver {
        let log = RequestLog()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ReceiverHandler(log: log, behaviour: behaviour))
                }
            }
            .bind(host: "127.0.0.1", port: requestedPort)
            .get()
        guard let port = channel.localAddress?.port else {
            try? await channel.close()
            throw TestReceiverError.shutDown
        }
        return TestReceiver(port: port, serverChannel: channel, log: log)
    }

    /// `http://127.0.0.1:<port>/hook`.
    public var url: String { "http://127.0.0.1:\(port)/hook" }

    /// Everything received so far, in arrival order.
    public var requests: [ReceivedRequest] { log.requests }

    /// How many client connections were accepted so far (reused connections count once).
    public var connectionCount: Int { log.connectionCount }

    /// How many client connections are open now. Once a client process has died and this is
    /// zero, every request it sent that reached the receiver has been recorded.
    public var openConnectionCount: Int { log.openConnectionCount }

    /// How many response body bytes were written to clients so far.
    public var bodyBytesSent: Int { log.bodyBytesSent }

    /// Waits until at least `count` requests have arrived and returns all received so far.
    ///
    /// Throws `TestReceiverError.timedOut` after `timeout`, or `.shutDown` if the receiver stops first.
    public func waitForRequests(count: Int, timeout: Duration = .seconds(10)) async throws -> [ReceivedRequest] {
        try await log.waitFor(count: count, timeout: timeout, on: serverChannel.eventLoop)
    }

    /// Stops listening, closes every open connection and fails anyone still waiting.
    public func shutdown() async throws {
        for connection in log.shutDown() {
            connection.close(promise: nil)
        }
        do {
            try await serverChannel.close()
        } catch ChannelError.alreadyClosed {
        }
    }
}
