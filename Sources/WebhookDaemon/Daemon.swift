#if canImport(Glibc)
    import Glibc
#endif
import Logging
import ServiceLifecycle
import WebhookAPI
import WebhookCore
import WebhookDelivery
import WebhookStorage
import WebhookStores

/// The whole daemon: outbox watcher, delivery loop and API, run until SIGTERM or SIGINT.
public struct Daemon: Sendable {
    public let configuration: DaemonConfiguration
    /// The daemon's Prometheus metrics; ``DaemonMetrics/exposition()`` is the body of `GET /metrics`.
    public let metrics: DaemonMetrics
    private let logger: Logger

    public init(configuration: DaemonConfiguration, logger: Logger, metrics: DaemonMetrics = DaemonMetrics()) {
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
    }

    /// Opens and migrates the database, then delivers until a graceful stop completes.
    public func run() async throws {
        try configuration.validate()
        let openFiles = FileDescriptorLimit.raise(toFit: configuration.maximumConcurrentTransfers)
        if openFiles >= 0, openFiles < configuration.maximumConcurrentTransfers + 64 {
            logger.warning(
                "Open file limit below the transfers in flight; raise LimitNOFILE or lower concurrency",
                metadata: ["open_files": "\(openFiles)", "concurrency": "\(configuration.maximumConcurrentTransfers)"])
        }
        let location = try DatabaseLocation(parsing: configuration.databasePath)
        var storeOptions = StoreOptions()
        storeOptions.durableCommits = configuration.synchronous == "FULL"
        storeOptions.writeHeld = { [metrics] in metrics.writeHeld($0) }
        storeOptions.passwordFile = configuration.databasePasswordFile
        storeOptions.connections = configuration.databaseConnections
        let store = try await WebhookStores.open(location, options: storeOptions, logger: logger)

        var clientConfiguration = DeliveryClient.Configuration(userAgent: "qr3-webhookd/\(qr3WebhookdVersion)")
        clientConfiguration.maximumConcurrentTransfers = configuration.maximumConcurrentTransfers
        // Claims beyond the transfer slots wait in the client (see `DeliveryService.claimLimit`).
        // A claim must outlive its request: one that could not start within half of what its
        // lease leaves beyond a request is handed back unsent rather than sent late.
        clientConfiguration.maximumQueueWait = .milliseconds(
            Int64((configuration.leaseSeconds - configuration.requestTimeout) / 2 * 1000))
        clientConfiguration.connectTimeout = .milliseconds(Int64(configuration.connectTimeout * 1000))
        clientConfiguration.totalTimeout = .milliseconds(Int64(configuration.requestTimeout * 1000))
        clientConfiguration.maximumResponseBytes = configuration.maximumResponseBytes
        clientConfiguration.addressPolicy = configuration.addressPolicy
        let client = try DeliveryClient(configuration: clientConfiguration, logger: logger)

        let work = Wakeup()
        let statistics = DaemonStatistics()
        let notifier = SystemdNotifier()
        let readiness = ReadinessGate(expecting: [])
        let health = StoreHealth()
        metrics.observe(
            inFlight: { statistics.snapshot.inFlight },
            busyRetries: { store.contendedWrites }
        )
        let delivery = DeliveryService(
            store: store,
            client: client,
            configuration: configuration,
            work: work,
            statistics: statistics,
            metrics: metrics,
            health: health,
            faultNote: configuration.mode.delivers ? location.filePath.flatMap(FaultNoteFile.init) : nil,
            notifier: notifier,
            readiness: readiness,
            owner: Self.ownerName(),
            logger: logger
        )
        metrics.observe(webhookLimits: { [board = delivery.limitBoard] in board.snapshot })
        let watcher = store.watchChanges(onChange: { delivery.outboxChanged() }, logger: logger)
        // READY=1 waits for every part expected here: each reports once it runs or listens.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if case .listener(let address) = configuration.metrics {
            readiness.expect(MetricsListener.readinessPart)
            let listener = MetricsListener(address: address, metrics: metrics, readiness: readiness, logger: logger)
            services.append(.init(service: listener))
        }
        if configuration.mode.delivers {
            services += [
                .init(service: WatcherService(watcher: watcher)),
                .init(service: MaintenanceService(store: store, health: health, logger: logger)),
            ]
            let retention = Duration.milliseconds(Int64(configuration.retention * 1000))
            let heldRetention = configuration.heldRetention.map { Duration.milliseconds(Int64($0 * 1000)) } ?? retention
            services.append(
                .init(
                    service: RetentionService(
                        store: store, retention: retention, heldRetention: heldRetention, health: health,
                        logger: logger)))
            if let seconds = configuration.recoveryProbeInterval {
                let probes = RecoveryProbeService(
                    store: store, interval: .milliseconds(Int64(seconds * 1000)), probesQueued: { work.signal() },
                    health: health, logger: logger)
                services.append(.init(service: probes))
            }
        }
        if configuration.mode.servesAPI {
            let hooks = APIHooks(outboxChanged: { delivery.outboxChanged() }, jobsDue: { work.signal() })
            var apiConfiguration = configuration.apiConfiguration
            if configuration.mode.delivers {
                apiConfiguration.concurrencyLimit = { [board = delivery.limitBoard] in board.limit(of: $0) }
            }
            if configuration.metrics == .api {
                apiConfiguration.metrics = MetricsExposition(
                    contentType: DaemonMetrics.contentType, body: metrics.exposition)
            }
            let api = APIServer(
                store: store, configuration: apiConfiguration, hooks: hooks, health: health, logger: logger)
            readiness.expect("api")
            services.append(.init(service: api))
            services.append(
                .init(
                    service: ReadinessProbe(part: "api", readiness: readiness) { await api.waitUntilListening() != nil }
                )
            )
        }
        // A graceful stop reaches services in reverse order. Delivery comes after the API, so it
        // stops claiming and drains at once while the API still answers health checks.
        if configuration.mode.delivers {
            readiness.expect(DeliveryService.readinessPart)
            services.append(.init(service: delivery))
        }
        // Last, so it is the first told of a graceful stop: STOPPING=1 goes out before the drain.
        services.append(
            .init(
                service: StatusService(
                    store: store,
                    statistics: statistics,
                    metrics: metrics,
                    health: health,
                    notifier: notifier,
                    readiness: readiness,
                    configuration: configuration,
                    limitBoard: configuration.mode.delivers ? delivery.limitBoard : nil,
                    databaseFile: location.filePath,
                    logger: logger
                )
            )
        )
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        logger.info(
            "qr3-webhookd started",
            metadata: [
                "version": "\(qr3WebhookdVersion)",
                "database": "\(location)",
                "concurrency": "\(configuration.maximumConcurrentTransfers)",
                "retry_schedule": "\(configuration.retryPolicy.scheduleDescription)",
                "owner": "\(delivery.owner)",
                "mode": "\(configuration.mode.rawValue)",
                "systemd_notify": "\(notifier.isEnabled)",
            ]
        )
        try await group.run()
        let totals = statistics.snapshot
        logger.info(
            "qr3-webhookd stopped",
            metadata: [
                "events": "\(totals.eventsTaken)",
                "delivered": "\(totals.attemptsSucceeded)",
                "failed_attempts": "\(totals.attemptsFailed)",
            ]
        )
    }

    /// A lease owner name unique to this process: host, pid and a random suffix.
    static func ownerName() -> String {
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let name = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(name):\(getpid()):\(Identifier.make("", length: 6))"
    }
}

/// Runs the store's ``StoreChangeWatch`` as a service that stops on graceful shutdown, or when
/// cancelled because another service failed.
struct WatcherService: Service {
    let watcher: any StoreChangeWatch

    func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await watcher.run()
            } onGracefulShutdown: {
                watcher.stop()
            }
        } onCancel: {
            watcher.stop()
        }
    }
}
