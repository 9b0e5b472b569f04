import Glibc
import NIOCore
import NIOHTTP1
import NIOPosix

// A receiver for `make bench`'s slow-receiver scenarios: answers every request `200` after the
// delay its path names, `/d/<milliseconds>/...` (no delay for any other path), on 127.0.0.1.
// Built on SwiftNIO with an event loop per core, so that thousands of requests waiting for their
// answer cost it a timer each, and it is never what limits the figures. Prints the port it
// listens on, then serves until its standard input closes (the benchmark's end) or SIGTERM.
//
//   bench-receiver [port]

/// Answers each request of one connection once its delay has passed.
final class DelayedAnswer: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var delay = TimeAmount.zero
    private var keepAlive = true

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            delay = Self.delay(of: head.uri)
        case .body:
            break
        case .end:
            let keepAlive = keepAlive
            let loop = context.eventLoop.assumeIsolated()
            if delay > .zero {
                loop.scheduleTask(in: delay) { Self.answer(context, keepAlive: keepAlive) }
            } else {
                Self.answer(context, keepAlive: keepAlive)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private static func answer(_ context: ChannelHandlerContext, keepAlive: Bool) {
        guard context.channel.isActive else { return }
        var headers = HTTPHeaders([("Content-Length", "2"), ("Content-Type", "text/plain")])
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
            promise: nil)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: "ok")))), promise: nil)
        if keepAlive {
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
        } else {
            let channel = context.channel
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in
                channel.close(promise: nil)
            }
        }
    }

    /// The delay a path names: `/d/500/hook` waits 500 ms.
    private static func delay(of uri: String) -> TimeAmount {
        let parts = uri.split(separator: "/", maxSplits: 2)
        guard parts.count >= 2, parts[0] == "d", let milliseconds = Int64(parts[1]) else { return .zero }
        return .milliseconds(milliseconds)
    }
}

let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 0 : 0
let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
let server = try ServerBootstrap(group: group)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .serverChannelOption(.backlog, value: 8192)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline()
            try channel.pipeline.syncOperations.addHandler(DelayedAnswer())
        }
    }
    .bind(host: "127.0.0.1", port: port)
    .wait()
// Unbuffered: the benchmark reads the port before anything else is written.
let portLine = "\(server.localAddress?.port ?? 0)\n"
_ = portLine.withCString { write(1, $0, strlen($0)) }
// The benchmark holds our standard input open while it runs: its end, or its death, ends us.
while getchar() != EOF {}
try server.close().wait()
try group.syncShutdownGracefully()
