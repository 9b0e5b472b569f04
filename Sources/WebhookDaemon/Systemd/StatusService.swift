import Glibc
import Logging
import ServiceLifecycle
import Synchronization
import WebhookCore
import WebhookStorage

/// Keeps systemd and the queue gauges up to date: `READY=1`, `STATUS=` lines, `STOPPING=1`.
///
/// Waits for the readiness gate, then sends `READY=1` with a first status line; every
/// `status-interval` reads the queue figures once for both the `STATUS=` line and the metrics'
/// queue gauges. On graceful shutdown (it is the first service to hear of it) it sends
/// `STOPPING=1` and asks for the drain timeout plus a margin with `EXTEND_TIMEOUT_USEC=`.
final class StatusService: Service {
    private let store: any WebhookStore
    private let statistics: DaemonStatistics
    private let metrics: DaemonMetrics
    private let health: StoreHealth
    private let notifier: SystemdNotifier
    private let readiness: ReadinessGate
    private let interval: Duration
    private let drainTimeout: Duration
    private let logger: Logger
    private let wake = Wakeup()
    /// Where the delivery loop's adaptive limits are read from and written to for `status`
    /// (beside the database file; nowhere for a database on a server).
    private let limits: (board: ConcurrencyLimitBoard, ceiling: Int, databasePath: String)?
    private let limitsWritten = Mutex(-1)

    /// Time asked for on top of the drain timeout, for recording the last results and closing.
    static let stopMargin = Duration.seconds(10)

    init(
        store: any WebhookStore,
        statistics: DaemonStatistics,
        metrics: DaemonMetrics,
        health: StoreHealth,
        notifier: SystemdNotifier,
        readiness: ReadinessGate,
        configuration: DaemonConfiguration,
        limitBoard: ConcurrencyLimitBoard? = nil,
        databaseFile: String? = nil,
        logger: Logger
    ) {
        self.store = store
        self.statistics = statistics
        self.metrics = metrics
        self.health = health
        self.notifier = notifier
        self.readiness = readiness
        self.interval = .milliseconds(Int64(configuration.statusInterval * 1000))
        self.drainTimeout = .milliseconds(Int64(configuration.drainTimeout * 1000))
        self.logger = logger
        self.limits = limitBoard.flatMap { board in
            databaseFile.map { (board, configuration.perWebhookConcurrency, $0) }
        }
    }

    /// Writes the adaptive limits for `qr3-webhookd status` when they changed since last time.
    private func writeLimits() {
        guard let limits else { return }
        let (table, version) = limits.board.versioned
        guard limitsWritten.withLock({ $0 }) != version else { return }
        let note = LimitsNote(
            pid: getpid(), updated: Timestamp.now().iso8601, initial: limits.board.initial,
            ceiling: limits.ceiling, limits: table)
        if note.write(databasePath: limits.databasePath) { limitsWritten.withLock { $0 = version } }
    }

    func run() async throws {
        var rate = DeliveryRate()
        var announced = false
        var lastStatus = ""
        var failures = 0
        await withGracefulShutdownHandler {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                if !announced {
                    guard readiness.isOpen else {
                        await readiness.opened.wait(timeout: .seconds(1))
                        continue
                    }
                }
                // While the delivery loop reports a failing database, the line says so; the
                // figures would need the database, and the loop logs the fault already.
                if let fault = health.fault {
                    let text = StatusLine.failing(fault, inFlight: statistics.snapshot.inFlight)
                    if !announced {
                        announced = true
                        notifier.ready(status: text)
                    } else if text != lastStatus {
                        notifier.status(text)
                    }
                    lastStatus = text
                    await wake.wait(timeout: interval)
                    continue
                }
                let line: StatusLine
                do {
                    line = StatusLine(
                        inFlight: statistics.snapshot.inFlight,
                        queue: try await store.stats(now: .now()),
                        deliveredPerMinute: rate.add(total: statistics.snapshot.attemptsSucceeded, at: .now)
                    )
                    failures = 0
                } catch {
                    failures += 1
                    metrics.databaseError()
                    logger.error(
                        "Cannot read the queue figures", metadata: ["error": "\(error)", "failures": "\(failures)"])
                    await wake.wait(timeout: interval)
                    continue
                }
                metrics.update(queue: line.queue)
                writeLimits()
                let text = "Delivering: " + line.text
                if !announced {
                    announced = true
                    notifier.ready(status: text)
                    logger.info("qr3-webhookd ready", metadata: ["status": "\(line.text)"])
                } else if text != lastStatus {
                    notifier.status(text)
                }
                lastStatus = text
                await wake.wait(timeout: interval)
            }
        } onGracefulShutdown: {
            let inFlight = self.statistics.snapshot.inFlight
            self.notifier.stopping(
                status: "Stopping: draining \(inFlight) request\(inFlight == 1 ? "" : "s") in flight",
                extendBy: self.drainTimeout + Self.stopMargin
            )
            self.wake.signal()
            self.readiness.opened.signal()
        }
    }
}
