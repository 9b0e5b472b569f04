import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import WebhookAPI

/// A tiny HTTP server for Prometheus: `GET /metrics` on its own address (`metrics-listen`).
///
/// It answers nothing else (404), closes each connection after its answer, and stops on graceful
/// shutdown. It reports `metrics` to the readiness gate once it listens, and logs the address it
/// bound (with the real port when the setting says port 0).
final class MetricsListener: Service {
    private let address: ListenAddress
    private let metrics: DaemonMetrics
    private let readiness: ReadinessGate
    private let logger: Logger

    /// The readiness gate part this service reports.
    static let readinessPart = "metrics"

    init(address: ListenAddress, metrics: DaemonMetrics, readiness: ReadinessGate, logger: Logger) {
        self.address = address
        self.metrics = metrics
        self.readiness = readiness
        self.logger = logger
    }

    func run() async throws {
        let metrics = self.metrics
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(metrics: metrics))
                    }
                }
                .bind(host: address.host, port: address.port)
                .get()
        } catch {
            throw MetricsListenerError(address: address, reason: "\(error)")
        }
        let bound = channel.localAddress?.port ?? address.port
        logger.info(
            "Metrics listening",
            metadata: ["address": "\(ListenAddress(host: address.host, port: bound))", "path": "/metrics"]
        )
        readiness.ready(Self.readinessPart)
        try? await gracefulShutdown()
        try? await channel.close()
    }
}

/// The metrics listener could not bind its address.
struct MetricsListenerError: Error, CustomStringConvertible {
    let address: ListenAddress
    let reason: String

    var description: String {
        "cannot listen for metrics on \(address) (metrics-listen): \(reason)"
    }
}

/// Answers `GET /metrics` with the exposition and anything else with 404 or 405.
final class MetricsHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: DaemonMetrics
    private var head: HTTPRequestHead?

    init(metrics: DaemonMetrics) {
        self.metrics = metrics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let status: HTTPResponseStatus
        let contentType: String
        var body: [UInt8]
        if path != "/metrics" {
            (status, contentType, body) = (
                .notFound, "text/plain; charset=utf-8", Array("Not found: try /metrics\n".utf8)
            )
        } else if head.method != .GET && head.method != .HEAD {
            (status, contentType, body) = (.methodNotAllowed, "text/plain; charset=utf-8", Array("Use GET\n".utf8))
        } else {
            (status, contentType, body) = (.ok, DaemonMetrics.contentType, metrics.exposition())
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.count)")
        headers.add(name: "Connection", value: "close")
        if head.method == .HEAD { body = [] }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil)
        if !body.isEmpty {
            context.write(
                wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}
