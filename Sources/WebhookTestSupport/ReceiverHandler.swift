import Glibc
import NIOCore
import NIOHTTP1

/// Serves one client connection of a `TestReceiver`: records each request, asks the
/// behaviour for a `Response` and carries it out. Runs on the connection's event loop only.
final class ReceiverHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private static let pieceSize = 64 * 1024
    private static let filler = ByteBuffer(repeating: UInt8(ascii: "x"), count: pieceSize)

    private let log: RequestLog
    private let behaviour: @Sendable (ReceivedRequest) -> Response
    private var connectionID = 0
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var isActive = true

    init(log: RequestLog, behaviour: @escaping @Sendable (ReceivedRequest) -> Response) {
        self.log = log
        self.behaviour = behaviour
    }

    func channelActive(context: ChannelHandlerContext) {
        connectionID = log.connectionOpened(context.channel)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        isActive = false
        log.connectionClosed(connectionID)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body = []
        case .body(let buffer):
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let requestHead = head else { return }
            head = nil
            let request = ReceivedRequest(
                method: requestHead.method.rawValue,
                uri: requestHead.uri,
                headers: requestHead.headers.map { (name: $0.name, value: $0.value) },
                body: body,
                receivedAt: .now,
                connectionID: connectionID)
            body = []
            log.record(request)
            respond(with: behaviour(request), keepAlive: requestHead.isKeepAlive, context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func respond(with response: Response, keepAlive: Bool, context: ChannelHandlerContext) {
        guard response.answers else { return }
        guard response.delay > .zero else {
            send(response, keepAlive: keepAlive, context: context)
            return
        }
        context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(response.delay)) {
            self.send(response, keepAlive: keepAlive, context: context)
        }
    }

    private func send(_ response: Response, keepAlive: Bool, context: ChannelHandlerContext) {
        guard isActive else { return }
        var headers = HTTPHeaders(response.headers.map { ($0.name, $0.value) })
        let declaredLength: Int?
        switch response.body {
        case .bytes(let bytes): declaredLength = bytes.count
        case .trickle(let bytes, _): declaredLength = bytes.count
        case .generated(let count, let chunked): declaredLength = chunked ? nil : count
        }
        if let declaredLength, !headers.contains(name: "content-length") {
            headers.add(name: "Content-Length", value: String(declaredLength))
        }
        if !keepAlive, response.ending == .complete { headers.add(name: "Connection", value: "close") }
        let status = HTTPResponseStatus(statusCode: response.status)
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)

        let cutoff: Int
        switch response.ending {
        case .complete: cutoff = .max
        case .close(let bytes), .reset(let bytes): cutoff = bytes
        }
        let finish = { self.finish(response.ending, keepAlive: keepAlive, context: context) }
        switch response.body {
        case .bytes(let bytes):
            let count = min(bytes.count, cutoff)
            if count > 0 {
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: bytes.prefix(count))))), promise: nil)
                log.sent(bodyBytes: count)
            }
            finish()
        case .trickle(let bytes, let interval):
            trickle(bytes.prefix(min(bytes.count, cutoff))[...], interval: interval, context: context, then: finish)
        case .generated(let count, _):
            stream(remaining: min(count, cutoff), context: context, then: finish)
        }
    }

    private func trickle(
        _ bytes: ArraySlice<UInt8>, interval: Duration, context: ChannelHandlerContext,
        then finish: @escaping () -> Void
    ) {
        guard isActive else { return }
        guard let byte = bytes.first else {
            finish()
            return
        }
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: [byte])))), promise: nil)
        log.sent(bodyBytes: 1)
        context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(interval)) {
            self.trickle(bytes.dropFirst(), interval: interval, context: context, then: finish)
        }
    }

    /// Writes the next piece only once the previous one has left, so memory stays at one piece.
    private func stream(remaining: Int, context: ChannelHandlerContext, then finish: @escaping () -> Void) {
        guard isActive else { return }
        guard remaining > 0 else {
            finish()
            return
        }
        let length = min(remaining, ReceiverHandler.pieceSize)
        let piece = ReceiverHandler.filler.getSlice(at: 0, length: length)!
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(piece)))).assumeIsolated().whenComplete { result in
            guard case .success = result else { return }
            self.log.sent(bodyBytes: length)
            self.stream(remaining: remaining - length, context: context, then: finish)
        }
    }

    private func finish(_ ending: Response.Ending, keepAlive: Bool, context: ChannelHandlerContext) {
        guard isActive else { return }
        switch ending {
        case .complete:
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                if !keepAlive { context.close(promise: nil) }
            }
        case .close:
            context.flush()
            context.close(promise: nil)
        case .reset:
            context.flush()
            guard let socket = context.channel as? any SocketOptionProvider else {
                context.close(promise: nil)
                return
            }
            socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }
}
