import WebhookCore
import WebhookStorage

/// The text `systemctl status` shows after `Status:`, built from live figures.
///
/// `3 in flight, 12 due, 140 delivered/min` first, then what needs an operator's eye only when
/// there is some: `oldest due 4.2 s`, `1 webhook failing`, `2 webhooks disabled (40 deliveries held)`,
/// `5 rejected outbox rows`.
struct StatusLine: Sendable, Hashable {
    /// Requests this process has in flight.
    var inFlight: Int
    /// Queue figures of the whole database.
    var queue: QueueStats
    /// Successful deliveries of this process in the last minute.
    var deliveredPerMinute: Int

    /// The line, without the `Delivering: ` the status service puts first.
    var text: String {
        var parts = ["\(inFlight) in flight", "\(queue.due) due", "\(deliveredPerMinute) delivered/min"]
        if queue.oldestDueAgeMs >= 1_000 {
            let tenths = queue.oldestDueAgeMs / 100
            parts.append("oldest due \(tenths / 10).\(tenths % 10) s")
        }
        if queue.failingWebhooks > 0 {
            parts.append("\(queue.failingWebhooks) webhook\(queue.failingWebhooks == 1 ? "" : "s") failing")
        }
        if queue.disabledWebhooks > 0 {
            var disabled = "\(queue.disabledWebhooks) webhook\(queue.disabledWebhooks == 1 ? "" : "s") disabled"
            if queue.held > 0 { disabled += " (\(queue.held) deliveries held)" }
            parts.append(disabled)
        }
        if queue.rejectedEvents > 0 {
            parts.append("\(queue.rejectedEvents) rejected outbox row\(queue.rejectedEvents == 1 ? "" : "s")")
        }
        return parts.joined(separator: ", ")
    }
}

extension StatusLine {
    /// The whole status while the database fails:
    /// `Database failing: disk full for 12.3 s, 7 tries, 40 results waiting, 3 in flight; retrying with back-off`.
    static func failing(_ fault: StoreHealth.Fault, inFlight: Int, now: ContinuousClock.Instant = .now) -> String {
        "Database failing: \(fault.fault.kind.phrase) for \(fault.duration(at: now).tenthsOfSecondsText) s, "
            + "\(fault.tries) tr\(fault.tries == 1 ? "y" : "ies"), \(fault.resultsWaiting) result"
            + "\(fault.resultsWaiting == 1 ? "" : "s") waiting, \(inFlight) in flight; retrying with back-off"
    }
}
