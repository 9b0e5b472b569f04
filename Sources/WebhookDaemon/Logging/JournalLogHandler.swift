#if canImport(Glibc)
    import Glibc
#endif
import Logging

/// Writes log entries to journald through its native protocol, with structured fields.
///
/// Each entry carries `MESSAGE` (the message, then the details as `key=value` pairs, as on
/// standard error), `PRIORITY`, `SYSLOG_IDENTIFIER=qr3-webhookd`, `CODE_FILE`, `CODE_LINE`,
/// `CODE_FUNC`, `LOGGER` and every metadata key as a field of its own, upper-cased
/// (`WEBHOOK_ID`, `EVENT_ID`, `STATUS_CODE`, ...), so `journalctl -u qr3-webhookd
/// WEBHOOK_ID=wh_...` finds a webhook's entries. Values keep their newlines (the protocol is
/// binary-safe). An entry the socket does not take (too large, journald gone) is written to
/// standard error as a `<N>` line instead, which journald still files from the stream.
///
/// Used when ``DaemonLogging/standardErrorIsJournal(environment:)`` says standard error is
/// connected to the journal (`$JOURNAL_STREAM`).
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let socket: JournalSocket
    private let fallback: StderrLogHandler

    /// The `SYSLOG_IDENTIFIER` of every entry.
    public static let syslogIdentifier = "qr3-webhookd"

    /// A handler for `label` sending to `socket`.
    public init(label: String, level: Logger.Level = .info, socket: JournalSocket) {
        self.label = label
        self.logLevel = level
        self.socket = socket
        self.fallback = StderrLogHandler(label: label, level: level, prefixPriority: true)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        let entry = Self.entry(
            level: event.level,
            message: event.message.description,
            metadata: all,
            label: label,
            file: event.file,
            function: event.function,
            line: event.line
        )
        if !socket.send(entry.encoded) {
            var handler = fallback
            handler.metadata = metadata
            handler.log(event: event)
        }
    }

    /// The journal entry for one log event.
    static func entry(
        level: Logger.Level,
        message: String,
        metadata: Logger.Metadata,
        label: String,
        file: String,
        function: String,
        line: UInt
    ) -> JournalEntry {
        let keys = metadata.keys.sorted()
        var text = message
        for key in keys {
            text += " \(key)=\(StderrLogHandler.quoted(LogRedaction.value(of: key, metadata[key]!)))"
        }
        var entry = JournalEntry()
        entry.append("MESSAGE", text)
        entry.append("PRIORITY", "\(level.syslogPriority)")
        entry.append("SYSLOG_IDENTIFIER", syslogIdentifier)
        entry.append("CODE_FILE", file)
        entry.append("CODE_LINE", "\(line)")
        entry.append("CODE_FUNC", function)
        entry.append("LOGGER", label)
        for key in keys {
            var name = JournalEntry.fieldName(key)
            if reservedFields.contains(name) { name = "META_" + name }
            entry.append(name, LogRedaction.value(of: key, metadata[key]!))
        }
        return entry
    }

    /// Fields the handler sets itself; a metadata key with one of these names gets a `META_` prefix.
    static let reservedFields: Set<String> = [
        "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE", "CODE_FUNC", "LOGGER", "MESSAGE_ID",
        "SYSLOG_FACILITY", "SYSLOG_PID", "ERRNO",
    ]
}

/// journald's native socket: an `AF_UNIX` datagram socket shared by every handler of the process.
public final class JournalSocket: Sendable {
    /// Where journald listens: `/run/systemd/journal/socket`.
    public static let defaultPath = "/run/systemd/journal/socket"

    private let path: [UInt8]
    private let descriptor: Int32

    /// A socket sending to `path`.
    public init(path: String = JournalSocket.defaultPath) {
        self.path = Array(path.utf8)
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if descriptor >= 0 {
            // Room for large entries; the kernel caps this at net.core.wmem_max.
            var size: Int32 = 8 * 1024 * 1024
            _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    /// Sends one datagram; false when it was not taken whole.
    func send(_ datagram: [UInt8]) -> Bool {
        guard descriptor >= 0, path.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { return false }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + 1)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                datagram.withUnsafeBytes { buffer in
                    sendto(descriptor, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL), socketAddress, length)
                }
            }
        }
        return sent == datagram.count
    }
}
