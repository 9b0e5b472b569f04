/// What one delivery attempt came to: the receiver's answer or the reason there was none.
public struct DeliveryOutcome: Sendable, Hashable {
    /// The HTTP status the receiver answered with, `nil` when there was no answer.
    public var statusCode: Int?
    /// Time from the start of the attempt to its end, in milliseconds.
    public var responseTimeMs: Int
    /// Why the attempt failed, `nil` when it succeeded (a 2xx answer).
    public var failure: FailureClass?
    /// The first bytes of the response body (or of the error), for the attempt log.
    public var excerpt: String
    /// The delay the receiver asked for with `Retry-After`, in seconds, when it sent one.
    public var retryAfterSeconds: Int?
    /// libcurl's timings of the attempt's steps.
    public var timings: TransferTimings
    /// The IP address the attempt connected to, when it got that far.
    public var remoteAddress: String?

    public init(
        statusCode: Int?,
        responseTimeMs: Int,
        failure: FailureClass?,
        excerpt: String = "",
        retryAfterSeconds: Int? = nil,
        timings: TransferTimings = .none,
        remoteAddress: String? = nil
    ) {
        self.statusCode = statusCode
        self.responseTimeMs = responseTimeMs
        self.failure = failure
        self.excerpt = excerpt
        self.retryAfterSeconds = retryAfterSeconds
        self.timings = timings
        self.remoteAddress = remoteAddress
    }

    /// True when the receiver accepted the event (a 2xx status).
    public var isSuccess: Bool { failure == nil }

    /// The outcome for an HTTP answer: 2xx succeeds, anything else is a `http_status` failure.
    public static func answered(
        status: Int,
        responseTimeMs: Int,
        excerpt: String = "",
        retryAfterSeconds: Int? = nil,
        timings: TransferTimings = .none,
        remoteAddress: String? = nil
    ) -> DeliveryOutcome {
        DeliveryOutcome(
            statusCode: status,
            responseTimeMs: responseTimeMs,
            failure: (200..<300).contains(status) ? nil : .httpStatus,
            excerpt: excerpt,
            retryAfterSeconds: retryAfterSeconds,
            timings: timings,
            remoteAddress: remoteAddress
        )
    }
}
