import WebhookCore

extension DeliveryRepresentation {
    /// The public representation of one logged attempt.
    public init(_ attempt: DeliveryAttempt) {
        let headers = attempt.signedAt.map { signedAt in
            DeliveryHeaders(
                eventID: attempt.eventID, eventType: attempt.eventType, attempt: attempt.attempt,
                webhookID: attempt.webhookID, timestamp: signedAt
            ).redacted(signatureCount: attempt.signatureCount, headerNames: attempt.headerNames)
        }
        self.init(
            id: attempt.id,
            eventType: attempt.eventType,
            succeeded: attempt.succeeded,
            statusCode: attempt.statusCode,
            responseTimeMs: attempt.responseTimeMs,
            attempt: attempt.attempt,
            createdAt: attempt.createdAt,
            eventID: attempt.eventID,
            failure: attempt.failure,
            nextRetryAt: attempt.nextRetryAt,
            responseExcerpt: attempt.responseExcerpt,
            remoteAddress: attempt.remoteAddress,
            timings: attempt.timings,
            requestHeaders: headers
        )
    }
}
