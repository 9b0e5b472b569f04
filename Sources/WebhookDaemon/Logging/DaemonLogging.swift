#if canImport(Glibc)
    import Glibc
#endif
import Logging

/// Chooses how the process logs: to journald's native socket, or plain lines on standard error.
public enum DaemonLogging {
    /// Overrides the journal socket's path (for tests, or a journald elsewhere).
    public static let journalSocketVariable = "QR3_WEBHOOKD_JOURNAL_SOCKET"

    /// A log handler factory for `swift-log`'s `LoggingSystem.bootstrap`.
    ///
    /// When standard error is the journal stream (systemd's `StandardError=journal`, the default),
    /// entries go to the journal with structured fields (``JournalLogHandler``); otherwise
    /// one line per entry on standard error (``StderrLogHandler``), with `<N>` priority
    /// prefixes when standard error is not a terminal.
    public static func handlerFactory(
        level: Logger.Level,
        environment: [String: String]
    ) -> @Sendable (String) -> any LogHandler {
        if standardErrorIsJournal(environment: environment) {
            let socket = JournalSocket(path: environment[journalSocketVariable] ?? JournalSocket.defaultPath)
            return { label in JournalLogHandler(label: label, level: level, socket: socket) }
        }
        let prefix = isatty(STDERR_FILENO) == 0
        return { label in StderrLogHandler(label: label, level: level, prefixPriority: prefix) }
    }

    /// Whether `$JOURNAL_STREAM` (`DEVICE:INODE`) names the file standard error is open on.
    ///
    /// systemd sets it when it connects standard error to the journal; a child whose standard
    /// error was redirected elsewhere inherits the variable but no longer matches it.
    public static func standardErrorIsJournal(environment: [String: String]) -> Bool {
        guard let stream = environment["JOURNAL_STREAM"] else { return false }
        let parts = stream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var status = stat()
        guard fstat(STDERR_FILENO, &status) == 0 else { return false }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }
}
