import Logging
import WebhookStorage

extension IngestReport {
    /// Outbox rows seen in this pass, whatever became of them.
    var rows: Int { events + duplicates + rejected.count }

    /// Logs what operators need to know: each rejected row as a warning, duplicates, the rest at debug.
    func log(logger: Logger) {
        for rejected in rejected {
            logger.warning(
                "Outbox row rejected",
                metadata: [
                    "outbox_seq": "\(rejected.sequence)",
                    "event_id": "\(rejected.eventID ?? "-")",
                    "workspace_id": "\(rejected.workspaceID ?? "-")",
                    "event_type": "\(rejected.type ?? "-")",
                    "reason": "\(rejected.reason)",
                ]
            )
        }
        if duplicates > 0 {
            logger.info("Duplicate events ignored", metadata: ["count": "\(duplicates)"])
        }
        if events > 0 {
            logger.debug("Events taken in", metadata: ["events": "\(events)", "jobs": "\(jobs)"])
        }
    }
}
