import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import WebhookCore
import WebhookStorage

/// The public webhooks API (v1) as a `Service`: an HTTP server on ``APIConfiguration/listen`` that
/// runs until graceful shutdown (or cancellation).
///
/// It logs "API listening" with the bound `address` once it accepts connections, so a daemon
/// started with port 0 can be found.
public final class APIServer: Service {
    private let handlers: APIHandlers
    private let configuration: APIConfiguration
    private let logger: Logger
    private let listening: AsyncStream<ListenAddress>
    private let listeningContinuation: AsyncStream<ListenAddress>.Continuation

    /// A server for `store`'s webhooks; `hooks` wake the daemon's own workers when work is added.
    /// `health` is where the daemon's delivery loop reports a failing database: `/healthz` answers
    /// 503 while it does.
    public init(
        store: any WebhookStore, configuration: APIConfiguration, hooks: APIHooks = APIHooks(),
        health: StoreHealth = StoreHealth(), logger: Logger
    ) {
        self.handlers = APIHandlers(
            store: store, configuration: configuration, hooks: hooks, storeHealth: health, logger: logger)
        self.configuration = configuration
        self.logger = logger
        (listening, listeningContinuation) = AsyncStream.makeStream(
            of: ListenAddress.self, bufferingPolicy: .bufferingNewest(1))
    }

    public func run() async throws {
        defer { listeningContinuation.finish() }
        let idle = configuration.idleTimeout
        let application = Application(
            router: makeRouter(),
            server: .http1(
                configuration: HTTP1Channel.Configuration(
                    idleTimeout: TimeAmount.nanoseconds(
                        idle.components.seconds * 1_000_000_000 + idle.components.attoseconds / 1_000_000_000))
            ),
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.listen.host, port: configuration.listen.port),
                serverName: nil,
                availableConnectionsDelegate: MaximumAvailableConnections(
                    configuration.maximumConnections, logger: logger)
            ),
            onServerRunning: { [self, logger, listeningContinuation, configuration] channel in
                listened.store(true, ordering: .relaxed)
                let bound = ListenAddress(
                    host: channel.localAddress?.ipAddress ?? configuration.listen.host,
                    port: channel.localAddress?.port ?? configuration.listen.port
                )
                logger.info("API listening", metadata: ["address": "\(bound)"])
                listeningContinuation.yield(bound)
            },
            logger: logger
        )
        do {
            try await application.run()
        } catch  where !listened.load(ordering: .relaxed) {
            throw ListenError(address: configuration.listen, underlying: error)
        }
    }

    /// Set once the server accepts connections.
    private let listened = Atomic<Bool>(false)

    /// The server could not start listening (the address is taken, not local, or not allowed).
    public struct ListenError: Error, CustomStringConvertible {
        public let address: ListenAddress
        public let underlying: any Error

        public var description: String {
            "the API cannot listen on \(address) (setting `listen`): \(underlying)"
        }
    }

    /// The address the server listens on, once it does; nil if it stopped (or failed) first.
    ///
    /// For one caller (tests that start the server on port 0).
    public func waitUntilListening() async -> ListenAddress? {
        for await address in listening { return address }
        return nil
    }

    /// The router: error shape outermost, then API keys for /v1, then one route per ``APIRoute``,
    /// and `GET /metrics` when ``APIConfiguration/metrics`` is set.
    func makeRouter() -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: APIErrorMiddleware(store: handlers.store, logger: logger))
        router.add(
            middleware: APIKeyMiddleware(
                store: handlers.store, rateLimiter: configuration.rateLimit.map(APIRateLimiter.init))
        )
        let handlers = self.handlers
        for route in APIRoute.all {
            router.on(RouterPath(route.routerPath), method: route.method) { request, context in
                try await handlers.respond(to: route, request, context)
            }
        }
        if let metrics = configuration.metrics {
            router.get("/metrics") { _, _ in
                Response(
                    status: .ok,
                    headers: [.contentType: metrics.contentType],
                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.body()))
                )
            }
        }
        return router
    }
}
