#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceLifecycle
import WebhookAPI
import WebhookCore
import WebhookDelivery
import WebhookStorage

/// The whole daemon: outbox watcher, delivery loop and API, run until SIGTERM or SIGINT.
public struct Daemon: Sendable {
    public let configuration: DaemonConfiguration
    private let logger: Logger

    public init(configuration: DaemonConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Opens and migrates the database, then delivers until a graceful stop completes.
    public func run() async throws {
        try configuration.validate()
        var storeOptions = SQLiteWebhookStore.Options()
        storeOptions.synchronous = configuration.synchronous
        let store = try SQLiteWebhookStore(path: configuration.databasePath, options: storeOptions, logger: logger)

        var clientConfiguration = DeliveryClient.Configuration(userAgent: "qr3-webhookd/\(qr3WebhookdVersion)")
        clientConfiguration.maximumConcurrentTransfers = configuration.maximumConcurrentTransfers
        clientConfiguration.connectTimeout = .milliseconds(Int64(configuration.connectTimeout * 1000))
        clientConfiguration.totalTimeout = .milliseconds(Int64(configuration.requestTimeout * 1000))
        clientConfiguration.maximumResponseBytes = configuration.maximumResponseBytes
        clientConfiguration.addressPolicy = configuration.addressPolicy
        let client = try DeliveryClient(configuration: clientConfiguration, logger: logger)

        let work = Wakeup()
        let statistics = DaemonStatistics()
        let delivery = DeliveryService(
            store: store,
            client: client,
            configuration: configuration,
            work: work,
            statistics: statistics,
            owner: Self.ownerName(),
            logger: logger
        )
        let watcher = OutboxWatcher(
            databasePath: configuration.databasePath,
            onChange: { delivery.outboxChanged() },
            logger: logger
        )
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if configuration.mode.delivers {
            services += [.init(service: WatcherService(watcher: watcher)), .init(service: delivery)]
        }
        if configuration.mode.servesAPI {
            let hooks = APIHooks(outboxChanged: { delivery.outboxChanged() }, jobsDue: { work.signal() })
            let api = APIServer(store: store, configuration: configuration.apiConfiguration, hooks: hooks, logger: logger)
            services.append(.init(service: api))
        }
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
                "database": "\(configuration.databasePath)",
                "concurrency": "\(configuration.maximumConcurrentTransfers)",
                "retry_schedule": "\(configuration.retryPolicy.schedule.map { String($0) }.joined(separator: ","))",
                "owner": "\(delivery.owner)",
                "mode": "\(configuration.mode.rawValue)",
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

/// Runs an ``OutboxWatcher`` as a service that stops on graceful shutdown.
struct WatcherService: Service {
    let watcher: OutboxWatcher

    func run() async throws {
        await withGracefulShutdownHandler {
            await watcher.run()
        } onGracefulShutdown: {
            watcher.stop()
        }
    }
}
