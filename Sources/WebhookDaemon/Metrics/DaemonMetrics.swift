import Metrics
import Prometheus
import Synchronization
import WebhookCore
import WebhookStorage

/// The daemon's Prometheus metrics, and their text exposition for `GET /metrics`.
///
/// One ``PrometheusCollectorRegistry`` holds them. Counters and histograms move as the services
/// work; queue gauges are refreshed from the database every `status-interval` by the status
/// service (``update(queue:)``), process gauges on every scrape. ``bootstrapMetricsSystem()``
/// points swift-metrics at the same registry, so metrics of libraries (Hummingbird's
/// `MetricsMiddleware`, for one) appear in the same exposition.
public final class DaemonMetrics: Sendable {
    /// The registry every metric of the daemon lives in.
    public let registry: PrometheusCollectorRegistry

    private let attempts: [FailureClass?: Prometheus.Counter]
    private let responseTime: DurationHistogram
    private let endToEnd: DurationHistogram
    private let writeHeld: DurationHistogram
    private let longestWrite: Prometheus.Gauge
    private let longestWriteSeconds = Mutex<Double>(0)
    private let eventsIngested: Prometheus.Counter
    private let jobsCreated: Prometheus.Counter
    private let duplicateEvents: Prometheus.Counter
    private let rowsRejected: Prometheus.Counter
    private let deliveriesFailed: Prometheus.Counter
    private let webhooksDisabled: Prometheus.Counter
    private let webhooksEnabledByProbe: Prometheus.Counter
    private let webhooksStartedFailing: Prometheus.Counter
    private let leaseReclaims: Prometheus.Counter
    private let staleResults: Prometheus.Counter
    private let jobsHandedBack: Prometheus.Counter
    private let databaseErrors: Prometheus.Counter
    private let busyRetries: Prometheus.Counter
    private let databaseFaults: [StoreFault.Kind: Prometheus.Counter]
    private let databaseFault: Prometheus.Gauge
    private let requestsInFlight: Prometheus.Gauge
    private let outboxBacklog: Prometheus.Gauge
    private let jobsPending: Prometheus.Gauge
    private let jobsDue: Prometheus.Gauge
    private let jobsInFlight: Prometheus.Gauge
    private let deliveriesHeld: Prometheus.Gauge
    private let failingWebhooks: Prometheus.Gauge
    private let oldestDueAge: Prometheus.Gauge
    private let rejectedRows: Prometheus.Gauge
    private let activeWebhooks: Prometheus.Gauge
    private let disabledWebhooks: Prometheus.Gauge

    private struct Sources {
        var inFlight: (@Sendable () -> Int)?
        var busyRetries: (@Sendable () -> Int)?
        var busyRetriesSeen = 0
        var webhookLimits: (@Sendable () -> [String: Int])?
    }

    private let sources = Mutex(Sources())

    /// `Content-Type` of ``exposition()``: the Prometheus text format.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Metrics in a new registry of their own.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "qr3_webhookd", metricName: metric, unitName: unit, helpText: help)
        }
        func counter(_ metric: String, _ help: String, _ labels: [(String, String)] = []) -> Prometheus.Counter {
            registry.makeCounter(descriptor: name(metric, "total", help), labels: labels)
        }
        func gauge(_ metric: String, _ unit: String, _ help: String, _ labels: [(String, String)] = [])
            -> Prometheus.Gauge
        {
            registry.makeGauge(descriptor: name(metric, unit, help), labels: labels)
        }
        var attempts: [FailureClass?: Prometheus.Counter] = [:]
        let attemptsHelp = "Delivery attempts recorded, by outcome and failure class."
        attempts[nil] = counter("delivery_attempts", attemptsHelp, [("outcome", "success"), ("failure_class", "none")])
        for failure in FailureClass.allCases where failure != .aborted {
            attempts[failure] = counter(
                "delivery_attempts",
                attemptsHelp,
                [("outcome", "failure"), ("failure_class", failure.rawValue)]
            )
        }
        self.attempts = attempts
        responseTime = registry.makeDurationHistogram(
            descriptor: name(
                "delivery_response",
                "seconds",
                "Time from sending an attempt to its outcome (answer, timeout or error)."
            ),
            buckets: [
                .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
                .seconds(30),
            ]
        )
        writeHeld = registry.makeDurationHistogram(
            descriptor: name(
                "database_write",
                "seconds",
                "Time each write transaction of this process held the database's write lock (producers wait for it)."
            ),
            buckets: [
                .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                .milliseconds(20), .milliseconds(50), .milliseconds(100), .milliseconds(500), .seconds(1),
            ]
        )
        longestWrite = gauge(
            "database_write_longest", "seconds", "The longest a write transaction of this process held the write lock.")
        endToEnd = registry.makeDurationHistogram(
            descriptor: name(
                "delivery_end_to_end",
                "seconds",
                "Time from the event's creation by its producer to its successful delivery, retries included."
            ),
            buckets: [
                .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
                .seconds(300), .seconds(900), .seconds(3600),
            ]
        )
        eventsIngested = counter("events_ingested", "Outbox events taken in and fanned out.")
        jobsCreated = counter("jobs_created", "Delivery jobs created by the fan-out of events.")
        duplicateEvents = counter("events_duplicate", "Outbox rows dropped because their event id was seen before.")
        rowsRejected = counter("outbox_rows_rejected", "Outbox rows set aside as invalid by this process.")
        deliveriesFailed = counter("deliveries_failed", "Deliveries that failed their last attempt.")
        webhooksDisabled = counter(
            "webhooks_disabled", "Webhooks disabled by this process (consecutive failures or 410 Gone).")
        webhooksEnabledByProbe = counter(
            "webhooks_enabled_by_probe", "Disabled webhooks enabled again by a successful recovery probe.")
        webhooksStartedFailing = counter(
            "webhooks_circuit_opened", "Times a webhook's first failure opened its circuit (its queue then waits).")
        leaseReclaims = counter("lease_reclaims", "Jobs claimed again after an earlier claim's lease ran out.")
        staleResults = counter("stale_results", "Attempt results dropped because their lease was lost.")
        jobsHandedBack = counter("jobs_handed_back", "Claims handed back unattempted at a stop.")
        databaseErrors = counter("database_errors", "Database operations of the services that failed.")
        busyRetries = counter("database_busy_retries", "Writes retried because the database was busy.")
        var databaseFaults: [StoreFault.Kind: Prometheus.Counter] = [:]
        for kind in StoreFault.Kind.allCases {
            databaseFaults[kind] = counter(
                "database_faults",
                "Database faults begun (disk full, I/O error, ...): each one backed off until the database answered.",
                [("kind", kind.rawValue)]
            )
        }
        self.databaseFaults = databaseFaults
        databaseFault = gauge(
            "database_fault", "", "1 while the database fails and the delivery loop backs off, else 0.")
        requestsInFlight = gauge("requests_in_flight", "", "HTTP requests this process has in flight.")
        outboxBacklog = gauge("outbox_backlog", "", "Outbox rows not yet taken in.")
        jobsPending = gauge("jobs_pending", "", "Jobs waiting for an attempt, due now or later (all processes).")
        jobsDue = gauge("jobs_due", "", "Pending jobs whose time has come (all processes).")
        jobsInFlight = gauge("jobs_in_flight", "", "Jobs claimed under a live lease (all processes).")
        deliveriesHeld = gauge(
            "deliveries_held", "", "Deliveries held for disabled webhooks, sent when they are enabled (all processes).")
        failingWebhooks = gauge(
            "webhooks_failing", "", "Webhooks whose circuit is open: one probe at a time until an attempt succeeds.")
        oldestDueAge = gauge("oldest_due_age", "seconds", "Age of the oldest due job (0 when none is due).")
        rejectedRows = gauge("rejected_outbox_rows", "", "Rows in rejected_events: outbox rows set aside as invalid.")
        let webhooksHelp = "Webhooks by state."
        activeWebhooks = gauge("webhooks", "", webhooksHelp, [("state", "active")])
        disabledWebhooks = gauge("webhooks", "", webhooksHelp, [("state", "disabled")])
        gauge(
            "build_info", "", "Always 1; the version of the running daemon in a label.",
            [("version", qr3WebhookdVersion)]
        )
        .set(1.0)
    }

    /// Points swift-metrics (`MetricsSystem`) at this registry; once per process.
    public func bootstrapMetricsSystem() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    /// Reads `inFlight` (this process's requests) and `busyRetries` (a running total) on every scrape.
    func observe(inFlight: @escaping @Sendable () -> Int, busyRetries: @escaping @Sendable () -> Int) {
        sources.withLock { sources in
            sources.inFlight = inFlight
            sources.busyRetries = busyRetries
            sources.busyRetriesSeen = 0
        }
    }

    /// Reads each webhook's adaptive in-flight limit on every scrape, for
    /// `qr3_webhookd_webhook_concurrency_limit{webhook_id}`.
    func observe(webhookLimits: @escaping @Sendable () -> [String: Int]) {
        sources.withLock { $0.webhookLimits = webhookLimits }
    }

    private static var webhookLimitName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "qr3_webhookd", metricName: "webhook_concurrency_limit", unitName: "",
            helpText:
                "Requests this process lets one webhook have in flight now: its adaptive limit, up to per-webhook-concurrency (webhooks with an attempt in this process)."
        )
    }

    /// The Prometheus text exposition of every metric, process figures read now.
    public func exposition() -> [UInt8] {
        let (inFlight, newBusyRetries, limits) = sources.withLock { sources -> (Int?, Int, [String: Int]) in
            let limits = sources.webhookLimits?() ?? [:]
            guard let total = sources.busyRetries?() else { return (sources.inFlight?(), 0, limits) }
            let delta = max(0, total - sources.busyRetriesSeen)
            sources.busyRetriesSeen = max(total, sources.busyRetriesSeen)
            return (sources.inFlight?(), delta, limits)
        }
        if let inFlight { requestsInFlight.set(Double(inFlight)) }
        for (webhookID, limit) in limits {
            registry.makeGauge(descriptor: Self.webhookLimitName, labels: [("webhook_id", webhookID)]).set(
                Double(limit))
        }
        if newBusyRetries > 0 { busyRetries.increment(by: Int64(newBusyRetries)) }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(8 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }

    // MARK: What the services report

    /// Counts recorded attempts, their response times and, for successes, the end-to-end time.
    func recorded(_ results: [AttemptResult], report: RecordReport) {
        for (result, deliveryID) in zip(results, report.deliveryIDs) where deliveryID != nil {
            let outcome = result.outcome
            (attempts[outcome.failure] ?? attempts[.other])?.increment()
            responseTime.record(.milliseconds(outcome.responseTimeMs))
            if outcome.isSuccess {
                let age = result.finishedAt.milliseconds - result.job.eventCreatedAt.milliseconds
                endToEnd.record(.milliseconds(max(0, age)))
            }
        }
        if !report.finallyFailed.isEmpty { deliveriesFailed.increment(by: Int64(report.finallyFailed.count)) }
        if !report.disabledWebhooks.isEmpty { webhooksDisabled.increment(by: Int64(report.disabledWebhooks.count)) }
        for change in report.webhookChanges {
            switch change.step {
            case .enable: webhooksEnabledByProbe.increment()
            case .startedFailing: webhooksStartedFailing.increment()
            case .unchanged, .recovered, .disable: break
            }
        }
        if !report.staleResults.isEmpty { staleResults.increment(by: Int64(report.staleResults.count)) }
    }

    /// Counts what one pass over the outbox did.
    func ingested(_ report: IngestReport) {
        if report.events > 0 { eventsIngested.increment(by: Int64(report.events)) }
        if report.jobs > 0 { jobsCreated.increment(by: Int64(report.jobs)) }
        if report.duplicates > 0 { duplicateEvents.increment(by: Int64(report.duplicates)) }
        if !report.rejected.isEmpty { rowsRejected.increment(by: Int64(report.rejected.count)) }
    }

    /// Counts jobs claimed again after an expired lease.
    func reclaimed(_ count: Int) {
        if count > 0 { leaseReclaims.increment(by: Int64(count)) }
    }

    /// Counts claims handed back unattempted.
    func handedBack(_ count: Int) {
        if count > 0 { jobsHandedBack.increment(by: Int64(count)) }
    }

    /// Records how long a write transaction held the database's write lock. Callable from any thread.
    func writeHeld(_ duration: Duration) {
        writeHeld.record(duration)
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        let longest = longestWriteSeconds.withLock { longest in
            longest = max(longest, seconds)
            return longest
        }
        longestWrite.set(longest)
    }

    /// Counts a failed database operation of a service.
    func databaseError() {
        databaseErrors.increment()
    }

    /// Counts a database fault that begins and raises the fault gauge.
    func databaseFaultBegan(_ kind: StoreFault.Kind) {
        databaseFaults[kind]?.increment()
        databaseFault.set(1.0)
    }

    /// Lowers the fault gauge: the database answers again.
    func databaseFaultEnded() {
        databaseFault.set(0.0)
    }

    /// Sets the queue gauges from the database's figures.
    func update(queue: QueueStats) {
        outboxBacklog.set(Double(queue.outboxBacklog))
        jobsPending.set(Double(queue.pending))
        jobsDue.set(Double(queue.due))
        jobsInFlight.set(Double(queue.inFlight))
        deliveriesHeld.set(Double(queue.held))
        failingWebhooks.set(Double(queue.failingWebhooks))
        oldestDueAge.set(Double(queue.oldestDueAgeMs) / 1000)
        rejectedRows.set(Double(queue.rejectedEvents))
        activeWebhooks.set(Double(queue.activeWebhooks))
        disabledWebhooks.set(Double(queue.disabledWebhooks))
    }
}
