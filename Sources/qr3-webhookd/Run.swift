import ArgumentParser
import Foundation
import Logging
import WebhookDaemon

/// `qr3-webhookd run`: the daemon itself.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon: take events from the outbox and deliver them (stops on SIGTERM or SIGINT).",
        discussion: """
            Settings come from, later ones winning: defaults, the file named by --config (or
            QR3_WEBHOOKD_CONFIG) with `name = value` lines, QR3_WEBHOOKD_<NAME> environment
            variables, and the flags below.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("A configuration file of `name = value` lines.", valueName: "path"))
    var config: String?

    @Option(name: .customLong("concurrency"), help: setting("concurrency"))
    var concurrency: String?

    @Option(name: .customLong("per-webhook-concurrency"), help: setting("per-webhook-concurrency"))
    var perWebhookConcurrency: String?

    @Option(name: .customLong("connect-timeout"), help: setting("connect-timeout"))
    var connectTimeout: String?

    @Option(name: .customLong("request-timeout"), help: setting("request-timeout"))
    var requestTimeout: String?

    @Option(name: .customLong("retry-schedule"), help: setting("retry-schedule"))
    var retrySchedule: String?

    @Option(name: .customLong("disable-after"), help: setting("disable-after"))
    var disableAfter: String?

    @Option(name: .customLong("lease"), help: setting("lease"))
    var lease: String?

    @Option(name: .customLong("drain-timeout"), help: setting("drain-timeout"))
    var drainTimeout: String?

    @Option(name: .customLong("claim-batch"), help: setting("claim-batch"))
    var claimBatch: String?

    @Option(name: .customLong("ingest-batch"), help: setting("ingest-batch"))
    var ingestBatch: String?

    @Option(name: .customLong("max-event-bytes"), help: setting("max-event-bytes"))
    var maxEventBytes: String?

    @Option(name: .customLong("max-response-bytes"), help: setting("max-response-bytes"))
    var maxResponseBytes: String?

    @Option(name: .customLong("allow-networks"), help: setting("allow-networks"))
    var allowNetworks: String?

    @Option(name: .customLong("poll-interval"), help: setting("poll-interval"))
    var pollInterval: String?

    @Option(name: .customLong("synchronous"), help: setting("synchronous"))
    var synchronous: String?

    @Option(name: .customLong("database-password-file"), help: setting("database-password-file"))
    var databasePasswordFile: String?

    @Option(name: .customLong("database-connections"), help: setting("database-connections"))
    var databaseConnections: String?

    @Option(name: .customLong("log-level"), help: setting("log-level"))
    var logLevel: String?

    @Option(name: .customLong("listen"), help: setting("listen"))
    var listen: String?

    @Option(name: .customLong("mode"), help: setting("mode"))
    var mode: String?

    @Flag(name: .customLong("no-api"), help: "Deliver without serving the API (mode delivery).")
    var noAPI = false

    @Flag(name: .customLong("api-only"), help: "Serve the API without delivery workers (mode api).")
    var apiOnly = false

    @Option(name: .customLong("metrics-listen"), help: setting("metrics-listen"))
    var metricsListen: String?

    @Option(name: .customLong("status-interval"), help: setting("status-interval"))
    var statusInterval: String?

    @Option(name: .customLong("recovery-probe-interval"), help: setting("recovery-probe-interval"))
    var recoveryProbeInterval: String?

    @Option(name: .customLong("retention"), help: setting("retention"))
    var retention: String?

    @Option(name: .customLong("held-retention"), help: setting("held-retention"))
    var heldRetention: String?

    @Option(name: .customLong("max-webhooks-per-workspace"), help: setting("max-webhooks-per-workspace"))
    var maxWebhooksPerWorkspace: String?

    @Option(name: .customLong("api-rate-limit"), help: setting("api-rate-limit"))
    var apiRateLimit: String?

    @Option(name: .customLong("api-idle-timeout"), help: setting("api-idle-timeout"))
    var apiIdleTimeout: String?

    @Option(name: .customLong("api-max-connections"), help: setting("api-max-connections"))
    var apiMaxConnections: String?

    func run() async throws {
        let configuration = try resolvedConfiguration()
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrapOnce(level: level)
        var logger = Logger(label: "qr3-webhookd")
        logger.logLevel = level
        let metrics = DaemonMetrics()
        metrics.bootstrapMetricsSystem()
        do {
            try await Daemon(configuration: configuration, logger: logger, metrics: metrics).run()
        } catch let error as DaemonConfiguration.InvalidSetting {
            throw ValidationError(error.description)
        } catch {
            logger.critical("qr3-webhookd cannot run", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }

    /// Defaults, then the file, the environment and the flags.
    func resolvedConfiguration() throws -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        let environment = ProcessInfo.processInfo.environment
        do {
            if let path = config ?? environment["QR3_WEBHOOKD_CONFIG"] {
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw ValidationError("cannot read the configuration file \(path)")
                }
                try configuration.apply(file: text, path: path)
            }
            try configuration.apply(environment: environment)
            if let database = global.database { configuration.databasePath = database }
            for (name, value) in flags {
                if let value { try configuration.apply(name, value) }
            }
            if noAPI && apiOnly { throw ValidationError("--no-api and --api-only exclude each other") }
            if noAPI { configuration.mode = .delivery }
            if apiOnly { configuration.mode = .api }
            try configuration.validate()
        } catch let error as DaemonConfiguration.InvalidSetting {
            throw ValidationError(error.description)
        }
        return configuration
    }

    private var flags: [(String, String?)] {
        [
            ("concurrency", concurrency),
            ("per-webhook-concurrency", perWebhookConcurrency),
            ("connect-timeout", connectTimeout),
            ("request-timeout", requestTimeout),
            ("retry-schedule", retrySchedule),
            ("disable-after", disableAfter),
            ("lease", lease),
            ("drain-timeout", drainTimeout),
            ("claim-batch", claimBatch),
            ("ingest-batch", ingestBatch),
            ("max-event-bytes", maxEventBytes),
            ("max-response-bytes", maxResponseBytes),
            ("allow-networks", allowNetworks),
            ("poll-interval", pollInterval),
            ("synchronous", synchronous),
            ("database-password-file", databasePasswordFile),
            ("database-connections", databaseConnections),
            ("log-level", logLevel),
            ("listen", listen),
            ("mode", mode),
            ("metrics-listen", metricsListen),
            ("status-interval", statusInterval),
            ("recovery-probe-interval", recoveryProbeInterval),
            ("retention", retention),
            ("held-retention", heldRetention),
            ("max-webhooks-per-workspace", maxWebhooksPerWorkspace),
            ("api-rate-limit", apiRateLimit),
            ("api-idle-timeout", apiIdleTimeout),
            ("api-max-connections", apiMaxConnections),
        ]
    }
}

/// The help line of a setting, from the one table of settings.
private func setting(_ name: String) -> ArgumentHelp {
    guard let setting = DaemonConfiguration.settings.first(where: { $0.name == name }) else {
        return ArgumentHelp()
    }
    return ArgumentHelp(
        "\(setting.help) (default: \(setting.defaultValue); env \(setting.environmentName))", valueName: "value")
}
