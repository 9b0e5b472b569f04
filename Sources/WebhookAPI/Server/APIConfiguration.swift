import WebhookCore

/// What the API server needs to know beyond the store: where to listen and the limits it enforces.
public struct APIConfiguration: Sendable {
    /// The address and port to listen on; port 0 takes a free port (see ``APIServer/waitUntilListening()``).
    public var listen = ListenAddress(host: "127.0.0.1", port: 8080)
    /// Which webhook URLs are accepted: a literal loopback, private or reserved address is refused
    /// unless allowed here, like the delivery client refuses to connect to one.
    public var addressPolicy: AddressPolicy = .publicOnly
    /// The largest event `data` accepted by `POST /v1/events`, in bytes (the daemon's `max-event-bytes`).
    public var maximumEventBytes = 256 * 1024
    /// The largest request body accepted by every other call, in bytes.
    public var maximumBodyBytes = 64 * 1024
    /// The most webhooks one workspace may have (`max-webhooks-per-workspace`); nil for no limit.
    public var maximumWebhooksPerWorkspace: Int? = 100
    /// Requests a second one API key may make on average (`api-rate-limit`), in bursts of up to
    /// twice as many; nil for no limit.
    public var rateLimit: Double? = 100
    /// How long a connection may stay idle before the server closes it (`api-idle-timeout`).
    public var idleTimeout: Duration = .seconds(60)
    /// The most connections open at once (`api-max-connections`); more wait to be accepted.
    public var maximumConnections = 1024
    /// When set, `GET /metrics` (outside /v1, no API key) answers with the daemon's Prometheus metrics.
    public var metrics: MetricsExposition?
    /// The in-flight limit the delivery in this process has for a webhook now, for the webhook
    /// object's `concurrency_limit`; nil where no delivery runs (the field is then null).
    public var concurrencyLimit: (@Sendable (String) -> Int?)?

    public init() {}
}

/// What `GET /metrics` answers: a `Content-Type` and a body produced for each request.
public struct MetricsExposition: Sendable {
    /// The body's `Content-Type`: the Prometheus text format's.
    public var contentType: String
    /// The exposition, read when a scrape arrives.
    public var body: @Sendable () -> [UInt8]

    public init(contentType: String, body: @escaping @Sendable () -> [UInt8]) {
        self.contentType = contentType
        self.body = body
    }
}

/// A `host:port` to listen on: `127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:80`.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// An IP address or a host name, without brackets.
    public var host: String
    /// 0 to 65535; 0 lets the system choose a free port.
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`, with an IPv6 address in brackets; nil when it is not one.
    public init?(parsing text: String) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                return nil
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard !host.contains(":") else { return nil }
        }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace }),
            portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText), (0...65535).contains(port)
        else { return nil }
        self.host = String(host)
        self.port = port
    }

    /// `host:port`, with brackets around an IPv6 address.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// What the API tells the rest of the daemon, so new work is picked up at once in this process.
public struct APIHooks: Sendable {
    /// Called after an event was added to the outbox (`POST /v1/events`, a ping).
    public var outboxChanged: @Sendable () -> Void
    /// Called after a job was made due now (a manual retry).
    public var jobsDue: @Sendable () -> Void

    public init(outboxChanged: @escaping @Sendable () -> Void = {}, jobsDue: @escaping @Sendable () -> Void = {}) {
        self.outboxChanged = outboxChanged
        self.jobsDue = jobsDue
    }
}
