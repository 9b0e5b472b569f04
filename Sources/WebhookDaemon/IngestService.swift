import Logging
import ServiceLifecycle
import WebhookCore
import WebhookStorage

/// Takes rows out of the outbox as soon as they are committed and fans them out into jobs.
final class IngestService: Service {
    private let store: any WebhookStore
    private let configuration: DaemonConfiguration
    private let outboxChanged: Wakeup
    private let jobsAdded: Wakeup
    private let statistics: DaemonStatistics
    private let logger: Logger

    init(
        store: any WebhookStore,
        configuration: DaemonConfiguration,
        outboxChanged: Wakeup,
        jobsAdded: Wakeup,
        statistics: DaemonStatistics,
        logger: Logger
    ) {
        self.store = store
        self.configuration = configuration
        self.outboxChanged = outboxChanged
        self.jobsAdded = jobsAdded
        self.statistics = statistics
        self.logger = logger
    }

    func run() async throws {
        let validator = OutboxValidator(maximumDataBytes: configuration.maximumEventBytes)
        let idle = Duration.milliseconds(Int64(configuration.pollInterval * 1000))
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let report: IngestReport
            do {
                report = try await store.ingest(
                    limit: configuration.ingestBatchSize,
                    validator: validator,
                    now: .now()
                )
                failures = 0
            } catch is CancellationError {
                return
            } catch {
                failures += 1
                logger.error("Cannot read the outbox", metadata: ["error": "\(error)", "failures": "\(failures)"])
                try? await Task.sleep(for: .milliseconds(min(5_000, 100 * failures)))
                continue
            }
            for rejected in report.rejected {
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
            if report.duplicates > 0 {
                logger.info("Duplicate events ignored", metadata: ["count": "\(report.duplicates)"])
            }
            if report.events > 0 {
                logger.debug("Events taken in", metadata: ["events": "\(report.events)", "jobs": "\(report.jobs)"])
            }
            statistics.ingested(events: report.events, jobs: report.jobs, rejected: report.rejected.count)
            if report.jobs > 0 { jobsAdded.signal() }
            let rows = report.events + report.duplicates + report.rejected.count
            if rows < configuration.ingestBatchSize, !report.hasMore {
                await outboxChanged.wait(timeout: idle)
            }
        }
    }
}
