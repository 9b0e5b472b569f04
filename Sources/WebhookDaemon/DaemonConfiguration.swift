import Foundation
import WebhookAPI
import WebhookCore

/// Every setting of the daemon, with its default.
///
/// Each setting can be given three ways, later ones winning: a line `name = value` in the
/// configuration file, an environment variable `QR3_WEBHOOKD_NAME` (upper case, `-` as `_`),
/// and a command-line flag `--name value`. ``DaemonConfiguration/settings`` is the one table of
/// them, used for parsing, validation messages and the README's reference.
public struct DaemonConfiguration: Sendable {
    /// The `database` setting: an SQLite file's path (what it is today), or a server's URL;
    /// `DatabaseLocation(parsing:)` reads it and `WebhookStores.open` opens the store it names.
    public var databasePath: String = DaemonConfiguration.defaultDatabasePath
    /// How many HTTP requests are in flight at once: sized for slow receivers (4096 at 500 ms is
    /// 8,000 requests a second); against fast ones far fewer are in flight at a time.
    public var maximumConcurrentTransfers: Int = 4096
    /// The most requests one webhook may have in flight at once (across every process): the
    /// ceiling of its adaptive limit (``ConcurrencyLimit``).
    public var perWebhookConcurrency: Int = 256
    /// Seconds to wait for a TCP (and TLS) connection.
    public var connectTimeout: Double = 5
    /// Seconds an attempt may take in all, answer included.
    public var requestTimeout: Double = 10
    /// Delays before each attempt, in seconds.
    public var retryPolicy = RetryPolicy()
    /// Consecutive failed attempts after which a webhook is disabled.
    public var disableAfterFailures: Int = 10
    /// Seconds a claim is held before another worker may take the job again.
    public var leaseSeconds: Double = 60
    /// Seconds a graceful stop waits for requests in flight before handing them back.
    public var drainTimeout: Double = 15
    /// Jobs claimed per database transaction at most.
    public var claimBatchSize: Int = 256
    /// Outbox rows taken in per database transaction at most.
    public var ingestBatchSize: Int = 1000
    /// Largest `data` accepted for an event, in bytes.
    public var maximumEventBytes: Int = 256 * 1024
    /// Largest response body read from a receiver, in bytes; a larger one fails the attempt.
    public var maximumResponseBytes: Int = 64 * 1024
    /// Networks that may be delivered to although private, loopback or otherwise reserved.
    public var allowedNetworks: [CIDR] = []
    /// Seconds between outbox checks when no change notification arrives.
    public var pollInterval: Double = 0.25
    /// The `synchronous` setting (named after SQLite's pragma): `FULL` makes every commit of the
    /// daemon's durable (`StoreOptions.durableCommits`), `NORMAL` is crash-safe.
    public var synchronous: String = "NORMAL"
    /// PostgreSQL: the file holding the password (`database-password-file`).
    public var databasePasswordFile: String?
    /// PostgreSQL: connections in the store's pool (`database-connections`).
    public var databaseConnections: Int = 8
    /// The lowest log level written: trace, debug, info, notice, warning, error, critical.
    public var logLevel: String = "info"
    /// Where the public webhooks API listens.
    public var listen = ListenAddress(host: "127.0.0.1", port: 8080)
    /// Which parts run: delivery and the API, delivery alone, or the API alone.
    public var mode: DaemonMode = .all
    /// Where `GET /metrics` is served: on the API's listener, on one of its own, or nowhere.
    public var metrics: MetricsPlacement = .api
    /// Seconds between readings of the queue figures for systemd's `STATUS=` and the metrics' gauges.
    public var statusInterval: Double = 5
    /// Seconds between recovery probes of a webhook disabled by failures; nil when off.
    public var recoveryProbeInterval: Double?
    /// Seconds after which delivered events, finished jobs, attempts and rejected rows are removed.
    public var retention: Double = 30 * 86_400
    /// Seconds a disabled webhook's held deliveries are kept; nil for the same as `retention`.
    public var heldRetention: Double?
    /// The most webhooks one workspace may have through the API.
    public var maximumWebhooksPerWorkspace: Int = 100
    /// Requests a second one API key may make on average; nil for no limit.
    public var apiRateLimit: Double? = 100
    /// Seconds an API connection may stay idle.
    public var apiIdleTimeout: Double = 60
    /// The most API connections open at once.
    public var apiMaximumConnections: Int = 1024

    /// How each webhook's in-flight limit adapts: it starts at 16 (or the ceiling, when lower) and
    /// grows up to `per-webhook-concurrency`.
    public var concurrencyLimitPolicy: ConcurrencyLimit.Policy {
        ConcurrencyLimit.Policy(initial: 16, ceiling: perWebhookConcurrency)
    }

    /// The job rules the daemon applies: the retry schedule and when to disable.
    public var deliveryRules: DeliveryRules {
        DeliveryRules(retryPolicy: retryPolicy, disableAfter: disableAfterFailures)
    }

    public init() {}

    /// The database used when none is named: `qr3-webhookd.sqlite` in the working directory,
    /// or in `$STATE_DIRECTORY` when systemd provides one.
    public static var defaultDatabasePath: String {
        if let state = getenvString("STATE_DIRECTORY"), !state.isEmpty {
            let first = state.split(separator: ":").first.map(String.init) ?? state
            return first + "/qr3-webhookd.sqlite"
        }
        return "qr3-webhookd.sqlite"
    }

    /// The address policy deliveries follow: public addresses only, plus `allowedNetworks`.
    public var addressPolicy: AddressPolicy {
        allowedNetworks.isEmpty ? .publicOnly : AddressPolicy(allowing: allowedNetworks)
    }

    /// A value that does not fit a setting, with a message naming the setting.
    public struct InvalidSetting: Error, Sendable, CustomStringConvertible {
        public let setting: String
        public let message: String
        public var description: String { "invalid \(setting): \(message)" }
    }

    /// One setting: its names, default and meaning, and how a text value is applied.
    public struct Setting: Sendable {
        public let name: String
        public let defaultValue: String
        public let help: String
        let apply: @Sendable (inout DaemonConfiguration, String) throws(InvalidSetting) -> Void

        /// The environment variable for this setting.
        public var environmentName: String {
            "QR3_WEBHOOKD_" + name.uppercased().replacingDashes()
        }
    }

    /// Applies `value` to the setting called `name`.
    public mutating func apply(_ name: String, _ value: String) throws(InvalidSetting) {
        guard let setting = Self.settings.first(where: { $0.name == name }) else {
            throw InvalidSetting(setting: name, message: "there is no such setting")
        }
        try setting.apply(&self, value.trimmed())
    }

    /// Applies every `QR3_WEBHOOKD_*` variable of `environment` that names a setting.
    public mutating func apply(environment: [String: String]) throws(InvalidSetting) {
        for setting in Self.settings {
            if let value = environment[setting.environmentName] {
                try setting.apply(&self, value.trimmed())
            }
        }
    }

    /// Applies a configuration file's text: `name = value` lines, `#` comments, blank lines.
    public mutating func apply(file text: String, path: String) throws(InvalidSetting) {
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(rawLine).trimmed()
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw InvalidSetting(
                    setting: "\(path):\(index + 1)",
                    message: "expected `name = value`, found \"\(line.prefix(80))\""
                )
            }
            let name = String(line[..<equals]).trimmed()
            var value = String(line[line.index(after: equals)...]).trimmed()
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                value = String(value.dropFirst().dropLast())
            }
            do throws(InvalidSetting) {
                try apply(name, value)
            } catch {
                throw InvalidSetting(setting: "\(error.setting) (\(path):\(index + 1))", message: error.message)
            }
        }
    }

    /// Checks settings that depend on each other.
    public func validate() throws(InvalidSetting) {
        if leaseSeconds < requestTimeout * 2 {
            throw InvalidSetting(
                setting: "lease",
                message: "must be at least twice request-timeout (\(requestTimeout) s), so a claim outlives its request"
            )
        }
        if connectTimeout > requestTimeout {
            throw InvalidSetting(setting: "connect-timeout", message: "must not exceed request-timeout")
        }
    }
}

/// Where the daemon serves `GET /metrics` (the `metrics-listen` setting).
public enum MetricsPlacement: Sendable, Hashable {
    /// At the API's address, beside /v1 (nowhere when the API does not run).
    case api
    /// On a listener of its own, e.g. a loopback port the API's proxy does not forward.
    case listener(ListenAddress)
    /// Not served.
    case off
}

extension DaemonConfiguration {
    /// The table of every setting.
    public static let settings: [Setting] = [
        Setting(
            name: "database", defaultValue: "qr3-webhookd.sqlite ($STATE_DIRECTORY under systemd)",
            help: "The SQLite database file (created when missing, mode 0600), or a postgresql://user@host:port/db URL."
        ) { config, value throws(InvalidSetting) in
            guard !value.isEmpty else { throw InvalidSetting(setting: "database", message: "must not be empty") }
            config.databasePath = value
        },
        Setting(
            name: "database-password-file", defaultValue: "none",
            help: "PostgreSQL: a file whose first line is the password (or QR3_WEBHOOKD_DATABASE_PASSWORD)."
        ) { config, value throws(InvalidSetting) in
            config.databasePasswordFile = value.isEmpty || value == "none" ? nil : value
        },
        Setting(
            name: "database-connections", defaultValue: "8",
            help: "PostgreSQL: connections each daemon keeps open (delivery, API requests, housekeeping)."
        ) { config, value throws(InvalidSetting) in
            guard let count = Int(value), (1...200).contains(count) else {
                throw InvalidSetting(setting: "database-connections", message: "must be a whole number from 1 to 200")
            }
            config.databaseConnections = count
        },
        Setting(
            name: "concurrency", defaultValue: "4096",
            help: "HTTP requests in flight at once (sized for slow receivers: 4096 at 500 ms is 8,000 a second)."
        ) {
            config, value throws(InvalidSetting) in
            config.maximumConcurrentTransfers = try integer(value, "concurrency", 1...10_000)
        },
        Setting(
            name: "per-webhook-concurrency", defaultValue: "256",
            help:
                "The most requests one webhook may have in flight at once, across every process: the ceiling of its adaptive limit, which starts at 16, grows while the receiver answers 2xx quickly and halves on 429, 503, 504, timeouts and rising response times."
        ) {
            config, value throws(InvalidSetting) in
            config.perWebhookConcurrency = try integer(value, "per-webhook-concurrency", 1...10_000)
        },
        Setting(name: "connect-timeout", defaultValue: "5", help: "Seconds to wait for a connection (TCP and TLS).") {
            config, value throws(InvalidSetting) in
            config.connectTimeout = try seconds(value, "connect-timeout", 0.001...300)
        },
        Setting(name: "request-timeout", defaultValue: "10", help: "Seconds an attempt may take in all.") {
            config, value throws(InvalidSetting) in
            config.requestTimeout = try seconds(value, "request-timeout", 0.001...600)
        },
        Setting(
            name: "retry-schedule", defaultValue: "0,60,300",
            help:
                "Delay in seconds before each attempt, after the previous one failed; the count is the number of attempts."
        ) {
            config, value throws(InvalidSetting) in
            do throws(RetryPolicy.InvalidSchedule) {
                config.retryPolicy = try RetryPolicy(parsing: value)
            } catch {
                throw InvalidSetting(setting: "retry-schedule", message: error.message)
            }
        },
        Setting(
            name: "disable-after", defaultValue: "10",
            help:
                "Consecutive failed probes after which a webhook is disabled (with 0,60,300: after 41 minutes of failing)."
        ) {
            config, value throws(InvalidSetting) in
            config.disableAfterFailures = try integer(value, "disable-after", 1...1_000_000)
        },
        Setting(
            name: "lease", defaultValue: "60",
            help: "Seconds a claimed job is held; after that another worker delivers it again."
        ) {
            config, value throws(InvalidSetting) in
            config.leaseSeconds = try seconds(value, "lease", 0.01...86_400)
        },
        Setting(
            name: "drain-timeout", defaultValue: "15",
            help: "Seconds a graceful stop waits for requests in flight."
        ) { config, value throws(InvalidSetting) in
            config.drainTimeout = try seconds(value, "drain-timeout", 0...3_600)
        },
        Setting(name: "claim-batch", defaultValue: "256", help: "Jobs claimed per transaction at most.") {
            config, value throws(InvalidSetting) in
            config.claimBatchSize = try integer(value, "claim-batch", 1...10_000)
        },
        Setting(name: "ingest-batch", defaultValue: "1000", help: "Outbox rows taken in per transaction at most.") {
            config, value throws(InvalidSetting) in
            config.ingestBatchSize = try integer(value, "ingest-batch", 1...100_000)
        },
        Setting(name: "max-event-bytes", defaultValue: "262144", help: "Largest event `data` accepted, in bytes.") {
            config, value throws(InvalidSetting) in
            config.maximumEventBytes = try integer(value, "max-event-bytes", 2...16 * 1024 * 1024)
        },
        Setting(
            name: "max-response-bytes", defaultValue: "65536",
            help: "Largest response body read from a receiver; a larger one fails the attempt (body_too_large)."
        ) {
            config, value throws(InvalidSetting) in
            config.maximumResponseBytes = try integer(value, "max-response-bytes", 0...64 * 1024 * 1024)
        },
        Setting(
            name: "allow-networks", defaultValue: "(none)",
            help:
                "Comma-separated CIDRs that may be delivered to although loopback, private or reserved, e.g. 127.0.0.0/8,::1/128."
        ) {
            config, value throws(InvalidSetting) in
            var networks: [CIDR] = []
            for part in value.split(separator: ",") {
                do throws(CIDR.ParseError) {
                    networks.append(try CIDR(part.trimmingCharacters(in: .whitespaces)))
                } catch {
                    throw InvalidSetting(setting: "allow-networks", message: error.description)
                }
            }
            config.allowedNetworks = networks
        },
        Setting(
            name: "poll-interval", defaultValue: "0.25",
            help: "Seconds between outbox checks when no file change is noticed (changes are noticed at once)."
        ) {
            config, value throws(InvalidSetting) in
            config.pollInterval = try seconds(value, "poll-interval", 0.001...60)
        },
        Setting(
            name: "synchronous", defaultValue: "NORMAL",
            help: "Durability of the daemon's own commits: NORMAL (crash-safe, see RELIABILITY; PostgreSQL synchronous_commit off) or FULL."
        ) {
            config, value throws(InvalidSetting) in
            let upper = value.uppercased()
            guard upper == "NORMAL" || upper == "FULL" else {
                throw InvalidSetting(setting: "synchronous", message: "must be NORMAL or FULL, not \"\(value)\"")
            }
            config.synchronous = upper
        },
        Setting(
            name: "log-level", defaultValue: "info",
            help: "Lowest level logged: trace, debug, info, notice, warning, error, critical."
        ) {
            config, value throws(InvalidSetting) in
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            guard levels.contains(value.lowercased()) else {
                throw InvalidSetting(setting: "log-level", message: "must be one of \(levels.joined(separator: ", "))")
            }
            config.logLevel = value.lowercased()
        },
        Setting(
            name: "listen", defaultValue: "127.0.0.1:8080",
            help: "Address and port of the public webhooks API: host:port or [ipv6]:port (port 0 takes a free one)."
        ) {
            config, value throws(InvalidSetting) in
            guard let address = ListenAddress(parsing: value) else {
                throw InvalidSetting(
                    setting: "listen", message: "\"\(value)\" is not host:port, like 127.0.0.1:8080 or [::1]:8080")
            }
            config.listen = address
        },
        Setting(
            name: "mode", defaultValue: "all",
            help:
                "What runs: all (delivery and the API), delivery (no API, as --no-api) or api (the API alone, as --api-only)."
        ) {
            config, value throws(InvalidSetting) in
            guard let mode = DaemonMode(rawValue: value.lowercased()) else {
                throw InvalidSetting(setting: "mode", message: "must be all, delivery or api, not \"\(value)\"")
            }
            config.mode = mode
        },
        Setting(
            name: "metrics-listen", defaultValue: "api",
            help:
                "Where Prometheus metrics are served at GET /metrics: api (the API's address), HOST:PORT of a listener of their own (e.g. 127.0.0.1:9464), or off."
        ) {
            config, value throws(InvalidSetting) in
            switch value.lowercased() {
            case "api": config.metrics = .api
            case "off": config.metrics = .off
            default:
                guard let address = ListenAddress(parsing: value) else {
                    throw InvalidSetting(
                        setting: "metrics-listen",
                        message: "\"\(value)\" is not api, off, or HOST:PORT / [IPV6]:PORT like 127.0.0.1:9464"
                    )
                }
                config.metrics = .listener(address)
            }
        },
        Setting(
            name: "status-interval", defaultValue: "5",
            help: "Seconds between readings of the queue figures for the systemd status line and the metrics."
        ) {
            config, value throws(InvalidSetting) in
            config.statusInterval = try seconds(value, "status-interval", 0.05...3_600)
        },
        Setting(
            name: "recovery-probe-interval", defaultValue: "off",
            help:
                "How often a webhook disabled by failures (or a 410) is sent a webhook.ping probe; a 2xx enables it again. off, or a duration like 10m."
        ) {
            config, value throws(InvalidSetting) in
            config.recoveryProbeInterval =
                value.lowercased() == "off" ? nil : try duration(value, "recovery-probe-interval", 1...30 * 86_400)
        },
        Setting(
            name: "retention", defaultValue: "30d",
            help:
                "How long delivered events, finished jobs, the delivery log and rejected outbox rows are kept: a duration like 30d, 12h or 20s."
        ) {
            config, value throws(InvalidSetting) in
            config.retention = try duration(value, "retention", 1...3650 * 86_400)
        },
        Setting(
            name: "held-retention", defaultValue: "(retention)",
            help: "How long a disabled webhook's held deliveries are kept: a duration, default the same as retention."
        ) {
            config, value throws(InvalidSetting) in
            config.heldRetention = try duration(value, "held-retention", 1...3650 * 86_400)
        },
        Setting(
            name: "max-webhooks-per-workspace", defaultValue: "100",
            help: "The most webhooks one workspace may have; the API answers 422 limit_reached beyond it."
        ) {
            config, value throws(InvalidSetting) in
            config.maximumWebhooksPerWorkspace = try integer(value, "max-webhooks-per-workspace", 1...1_000_000)
        },
        Setting(
            name: "api-rate-limit", defaultValue: "100",
            help:
                "Requests a second one API key may make on average, in bursts of twice as many (429 with Retry-After beyond), or off."
        ) {
            config, value throws(InvalidSetting) in
            config.apiRateLimit =
                value.lowercased() == "off" ? nil : Double(try integer(value, "api-rate-limit", 1...1_000_000))
        },
        Setting(
            name: "api-idle-timeout", defaultValue: "60",
            help: "Seconds an API connection may stay idle before it is closed."
        ) {
            config, value throws(InvalidSetting) in
            config.apiIdleTimeout = try seconds(value, "api-idle-timeout", 1...3_600)
        },
        Setting(
            name: "api-max-connections", defaultValue: "1024",
            help: "The most API connections open at once; more wait to be accepted."
        ) {
            config, value throws(InvalidSetting) in
            config.apiMaximumConnections = try integer(value, "api-max-connections", 1...1_000_000)
        },
    ]

    /// A duration written as seconds (`90`) or with a unit: `s`, `m`, `h` or `d` (`90s`, `5m`, `1h`, `30d`).
    static func duration(_ value: String, _ name: String, _ range: ClosedRange<Double>) throws(InvalidSetting)
        -> Double
    {
        guard let seconds = DurationText.seconds(value), range.contains(seconds) else {
            throw InvalidSetting(
                setting: name,
                message:
                    "\"\(value)\" is not a duration from \(Int(range.lowerBound)) s to \(Int(range.upperBound)) s, "
                    + "like 90, 90s, 5m, 1h or 30d"
            )
        }
        return seconds
    }

    static func integer(_ value: String, _ name: String, _ range: ClosedRange<Int>) throws(InvalidSetting) -> Int {
        guard let number = Int(value), range.contains(number) else {
            throw InvalidSetting(
                setting: name,
                message: "\"\(value)\" is not a whole number from \(range.lowerBound) to \(range.upperBound)"
            )
        }
        return number
    }

    static func seconds(_ value: String, _ name: String, _ range: ClosedRange<Double>) throws(InvalidSetting) -> Double
    {
        guard let number = Double(value), number.isFinite, range.contains(number) else {
            throw InvalidSetting(
                setting: name,
                message: "\"\(value)\" is not a number of seconds from \(range.lowerBound) to \(range.upperBound)"
            )
        }
        return number
    }
}

extension String {
    fileprivate func trimmed() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }

    fileprivate func replacingDashes() -> String {
        String(map { $0 == "-" ? "_" : $0 })
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

private func getenvString(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}
