import WebhookCore

extension DeliveryClient {
    /// How the client sends: concurrency, timeouts, response limits and the address policy.
    public struct Configuration: Sendable {
        /// Transfers running at once; further submissions wait in a queue.
        public var maximumConcurrentTransfers: Int = 128
        /// The longest a submission may wait in that queue; one that waited longer is completed
        /// unsent, as `.aborted`, instead of starting. `nil`: no limit.
        public var maximumQueueWait: Duration?
        /// Time allowed to resolve the host and complete the TCP (and TLS) handshake.
        public var connectTimeout: Duration = .seconds(5)
        /// Time allowed for the whole attempt, from the start of the connection to the last byte.
        public var totalTimeout: Duration = .seconds(10)
        /// The body is read up to this many bytes; a longer one fails the attempt as `.bodyTooLarge`.
        public var maximumResponseBytes: Int = 64 * 1024
        /// How many leading bytes of the body are kept in the outcome's excerpt (cut at a character boundary).
        public var excerptBytes: Int = 512
        /// The `User-Agent` header, like `qr3-webhookd/1.0.0`.
        public var userAgent: String
        /// Which addresses may be connected to; checked on the exact address of every connection.
        public var addressPolicy: AddressPolicy = .publicOnly
        /// Connections to one host at once; 0 means no limit.
        public var maximumConnectionsPerHost: Int = 0

        /// The defaults above with the given `User-Agent`.
        public init(userAgent: String) {
            self.userAgent = userAgent
        }

        /// Throws when a value cannot work, naming the value and its valid range.
        func validate() throws(DeliveryClientError) {
            func require(_ condition: Bool, _ message: String) throws(DeliveryClientError) {
                if !condition { throw DeliveryClientError.invalidConfiguration(message) }
            }
            try require(maximumConcurrentTransfers >= 1, "maximumConcurrentTransfers must be at least 1")
            try require(connectTimeout.milliseconds >= 1, "connectTimeout must be at least 1 ms")
            try require(totalTimeout.milliseconds >= 1, "totalTimeout must be at least 1 ms")
            try require(maximumResponseBytes >= 0, "maximumResponseBytes must not be negative")
            try require(excerptBytes >= 0, "excerptBytes must not be negative")
            try require(
                maximumQueueWait.map { $0 >= .zero } ?? true, "maximumQueueWait must not be negative")
            try require(maximumConnectionsPerHost >= 0, "maximumConnectionsPerHost must be 0 (no limit) or more")
            try require(!userAgent.utf8.contains(where: { $0 < 0x20 }), "userAgent must not contain control characters")
        }
    }
}

extension Duration {
    /// The duration in whole milliseconds, rounded down.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
