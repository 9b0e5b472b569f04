/// One complete HTTP request as a `TestReceiver` saw it.
public struct ReceivedRequest: Sendable {
    /// The method, like `POST`.
    public var method: String
    /// The request target as sent, like `/hook?x=1`.
    public var uri: String
    /// Header fields in the order received, names as sent.
    public var headers: [(name: String, value: String)]
    /// The body bytes exactly as received (after any chunked framing is removed).
    public var body: [UInt8]
    /// When the last byte of the request arrived.
    public var receivedAt: ContinuousClock.Instant
    /// Which client connection carried it: 1 for the receiver's first connection, 2 for the next, ...
    public var connectionID: Int

    /// Creates a request value (the receiver builds these; tests may too, to drive a behaviour).
    public init(
        method: String, uri: String, headers: [(name: String, value: String)], body: [UInt8],
        receivedAt: ContinuousClock.Instant = .now, connectionID: Int = 0
    ) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
        self.receivedAt = receivedAt
        self.connectionID = connectionID
    }

    /// The request target without its query string.
    public var path: String {
        String(uri.prefix { $0 != "?" })
    }

    /// The body decoded as UTF-8 (invalid bytes become U+FFFD).
    public var bodyText: String {
        String(decoding: body, as: UTF8.self)
    }

    /// The first value of the header called `name` (case-insensitive), if any.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// Every value of the header called `name` (case-insensitive), in order.
    public func headerValues(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }
}
