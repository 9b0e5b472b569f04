import WebhookCore

extension DeliveryRules.Verdict {
    /// When the job is due next, and the retry time the attempt log shows: the retry's time for a
    /// retry, else the attempt's end (a finished or held job is not due again by itself).
    public func availability(finishedAt: Timestamp) -> (availableAt: Timestamp, nextRetryAt: Timestamp?) {
        switch job {
        case .retry(let at): (at, at)
        case .delivered, .held, .failed: (finishedAt, nil)
        }
    }

    /// The job's state to store: a job the rules would hold for a webhook deleted meanwhile is
    /// cancelled with it.
    public func jobState(webhookDeleted: Bool) -> DeliveryRules.JobState {
        job == .held && webhookDeleted ? .cancelled : job.state
    }
}
