import WebhookCore

extension DeliveryRepresentation {
    /// The public representation of one logged attempt.
    public init(_ attempt: DeliveryAttempt) {
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
            responseExcerpt: attempt.responseExcerpt
        )
    }
}
