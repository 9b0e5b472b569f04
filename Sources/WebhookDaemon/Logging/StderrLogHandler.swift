#if canImport(Glibc)
    import Glibc
#endif
import Logging
import Synchronization

/// Writes one line per log entry to standard error, prefixed with its syslog priority (`<6>`).
///
/// systemd reads the `<N>` prefix as the entry's priority when standard error goes to the journal
/// (`SyslogLevelPrefix=` is on by default), so `journalctl -p warning` works without libsystemd.
/// Details follow the message as `key=value` pairs, values quoted when they contain spaces.
public struct StderrLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let prefixPriority: Bool

    /// A handler for `label`; `prefixPriority` writes the `<N>` prefix (on under systemd).
    public init(label: String, level: Logger.Level = .info, prefixPriority: Bool = true) {
        self.label = label
        self.logLevel = level
        self.prefixPriority = prefixPriority
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = prefixPriority ? "<\(event.level.syslogPriority)>" : "\(event.level.rawValue.uppercased()) "
        line += event.message.description
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        for key in all.keys.sorted() {
            line += " \(key)=\(Self.quoted(LogRedaction.value(of: key, all[key]!)))"
        }
        line += "\n"
        // One write(2) per entry, so lines from several threads never interleave.
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    /// `value` as written after `key=`: quoted and escaped when it has spaces, quotes, `=` or newlines.
    static func quoted(_ value: String) -> String {
        guard value.isEmpty || value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }) else {
            return value
        }
        var escaped = "\""
        for character in value {
            switch character {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            default: escaped.append(character)
            }
        }
        return escaped + "\""
    }
}

extension Logger.Level {
    /// The syslog priority (0 emergency ... 7 debug) journald files this level under.
    public var syslogPriority: Int {
        switch self {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}
