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
                    "event_id": "\(Self.shown(rejected.eventID))",
                    "workspace_id": "\(Self.shown(rejected.workspaceID))",
                    "event_type": "\(Self.shown(rejected.type))",
                    "reason": "\(Self.shown(rejected.reason, limit: 300))",
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

    /// A producer's value as logged: at most `limit` characters, so a hostile row cannot flood
    /// the journal. (Line breaks and other control characters are the log handlers' to escape.)
    static func shown(_ value: String?, limit: Int = 128) -> String {
        guard let value else { return "-" }
        guard value.unicodeScalars.count > limit else { return value }
        return String(String.UnicodeScalarView(value.unicodeScalars.prefix(limit))) + "…"
    }
}
