import Logging
import WebhookCore
import WebhookStorage

/// Carries out a ``StoreFaultReport``'s decisions for the delivery loop: logs its lines, counts
/// the fault in the metrics and shares it through ``StoreHealth`` with `/healthz`, the API and
/// the status line.
///
/// A persistent fault (a full disk, an I/O error) is so said once when it begins, summed up at
/// most once a minute while it lasts, and said once when it ends, and the loop waits the
/// returned back-off between tries instead of retrying as fast as it can.
struct StoreFaultHandler {
    private var report = StoreFaultReport()
    let store: any DeliveryStore
    let health: StoreHealth
    let metrics: DaemonMetrics
    /// Where `qr3-webhookd status` reads the fault from.
    let note: FaultNoteFile?
    let logger: Logger

    init(store: any DeliveryStore, health: StoreHealth, metrics: DaemonMetrics, note: FaultNoteFile?, logger: Logger) {
        self.store = store
        self.health = health
        self.metrics = metrics
        self.note = note
        self.logger = logger
    }

    /// Whether a fault is under way.
    var isFailing: Bool { report.isFailing }

    /// A round failed with `error` while `resultsWaiting` results are held in memory; returns how
    /// long to wait before the next try.
    mutating func failed(_ error: any Error, resultsWaiting: Int) -> Duration {
        let fault = store.fault(of: error)
        let decision = report.failed(fault, now: .now, jitter: Double.random(in: 0..<1))
        metrics.databaseError()
        health.failing(fault, tries: report.episode?.tries ?? 1, resultsWaiting: resultsWaiting)
        if let current = health.fault { note?.write(.failing(current)) }
        switch decision.line {
        case .began(let fault)?:
            metrics.databaseFaultBegan(fault.kind)
            logger.log(
                level: fault.kind.isTransient ? .warning : .error,
                "Cannot write the database; delivery paused, results kept in memory, retrying with back-off",
                metadata: [
                    "fault": "\(fault.kind.rawValue)",
                    "error": "\(fault.detail)",
                    "remedy": "\(fault.kind.remedy)",
                    "results_waiting": "\(resultsWaiting)",
                    "retry": "back-off \(report.backoff.initial) to \(report.backoff.maximum)",
                ]
            )
        case .stillFailing(let fault, let tries, let interval, let duration)?:
            logger.log(
                level: fault.kind.isTransient ? .warning : .error,
                "Database still failing",
                metadata: [
                    "fault": "\(fault.kind.rawValue)",
                    "error": "\(fault.detail)",
                    "tries": "\(tries)",
                    "interval_s": "\(interval.tenthsOfSecondsText)",
                    "failing_for_s": "\(duration.tenthsOfSecondsText)",
                    "results_waiting": "\(resultsWaiting)",
                ]
            )
        case .recovered?, nil:
            break
        }
        return decision.delay
    }

    /// A round succeeded, writing `resultsWritten` results; ends a fault under way.
    mutating func succeeded(resultsWritten: Int) {
        guard
            case .recovered(let fault, let duration, let tries, let written)? =
                report.succeeded(now: .now, resultsWritten: resultsWritten)
        else { return }
        health.recovered()
        note?.write(.healthy())
        metrics.databaseFaultEnded()
        logger.notice(
            "Database recovered; delivery resumed",
            metadata: [
                "fault": "\(fault.kind.rawValue)",
                "after_s": "\(duration.tenthsOfSecondsText)",
                "tries": "\(tries)",
                "results_written_late": "\(written)",
            ]
        )
    }
}
