#if canImport(Glibc)
    import Glibc
#endif
import Foundation
import Synchronization

/// Tells systemd how the daemon is doing: the `sd_notify` datagram protocol, without libsystemd.
///
/// systemd passes the address of its notification socket in `$NOTIFY_SOCKET`: a path starting
/// with `/`, or an abstract socket starting with `@` (a leading NUL byte on the wire). Each
/// message is one datagram of newline-separated `KEY=VALUE` assignments (`READY=1`,
/// `STATUS=...`, `WATCHDOG=1`, `STOPPING=1`, `EXTEND_TIMEOUT_USEC=...`). Without
/// `$NOTIFY_SOCKET` (not started by systemd, or not `Type=notify`) every call does nothing.
///
/// The watchdog keep-alive is rate-limited here: ``watchdogPing()`` may be called as often as
/// convenient and sends `WATCHDOG=1` at most every ``WatchdogSchedule/interval``.
public final class SystemdNotifier: Sendable {
    /// The socket address bytes (`sun_path`, a leading NUL for an abstract socket); nil when off.
    private let address: [UInt8]?
    /// An unbound `AF_UNIX` datagram socket, or -1.
    private let descriptor: Int32
    /// When to send `WATCHDOG=1`.
    public let watchdog: WatchdogSchedule
    private let lastWatchdogPing = Mutex<ContinuousClock.Instant?>(nil)

    /// A notifier for `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID` of `environment`.
    public init(environment: [String: String]) {
        watchdog = WatchdogSchedule(
            watchdogUsec: environment["WATCHDOG_USEC"],
            watchdogPID: environment["WATCHDOG_PID"],
            processID: Int(getpid())
        )
        guard let path = environment["NOTIFY_SOCKET"], let bytes = Self.addressBytes(path) else {
            address = nil
            descriptor = -1
            return
        }
        address = bytes
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    }

    /// A notifier for this process's environment.
    public convenience init() {
        self.init(environment: ProcessInfo.processInfo.environment)
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    /// Whether a notification socket was given (the daemon runs as a `Type=notify` service).
    public var isEnabled: Bool { address != nil && descriptor >= 0 }

    /// `sun_path` bytes for a `$NOTIFY_SOCKET` value, or nil when it is not a usable address.
    static func addressBytes(_ path: String) -> [UInt8]? {
        var bytes = Array(path.utf8)
        guard let first = bytes.first, first == UInt8(ascii: "/") || first == UInt8(ascii: "@") else { return nil }
        if first == UInt8(ascii: "@") { bytes[0] = 0 }
        guard bytes.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { return nil }
        return bytes
    }

    /// Sends `assignments` as one message; returns false when off or when the send failed.
    @discardableResult
    public func send(_ assignments: [(String, String)]) -> Bool {
        guard let address, descriptor >= 0, !assignments.isEmpty else { return false }
        var message = Array(assignments.map { "\($0.0)=\($0.1)" }.joined(separator: "\n").utf8)
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { path in
            path.copyBytes(from: address)
        }
        // An abstract address has no terminating NUL: its length is exactly what was given.
        let length = socklen_t(MemoryLayout<sa_family_t>.size + address.count + (address.first == 0 ? 0 : 1))
        let sent = withUnsafePointer(to: &socketAddress) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketPointer in
                message.withUnsafeMutableBytes { buffer in
                    sendto(descriptor, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL), socketPointer, length)
                }
            }
        }
        return sent == message.count
    }

    /// `READY=1` with a first status line.
    public func ready(status: String) {
        send([("READY", "1"), ("STATUS", status)])
    }

    /// A new status line, shown by `systemctl status`.
    public func status(_ text: String) {
        send([("STATUS", text)])
    }

    /// `STOPPING=1`, a status line, and more time to stop: at least `extendBy` from now.
    public func stopping(status: String, extendBy: Duration) {
        send([("STOPPING", "1"), ("STATUS", status), ("EXTEND_TIMEOUT_USEC", "\(Self.microseconds(extendBy))")])
    }

    /// Asks for at least `duration` more (from now) to finish starting or stopping.
    public func extendTimeout(by duration: Duration) {
        send([("EXTEND_TIMEOUT_USEC", "\(Self.microseconds(duration))")])
    }

    /// Sends `WATCHDOG=1` when the watchdog is on and the last keep-alive is an interval old.
    ///
    /// Called from the delivery loop itself, so a loop that hangs stops the keep-alives and
    /// systemd restarts the daemon (`WatchdogSec=`).
    public func watchdogPing(now: ContinuousClock.Instant = .now) {
        guard isEnabled, let interval = watchdog.interval else { return }
        let due = lastWatchdogPing.withLock { last -> Bool in
            guard WatchdogSchedule.isDue(last: last, now: now, interval: interval) else { return false }
            last = now
            return true
        }
        if due { send([("WATCHDOG", "1")]) }
    }

    static func microseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }
}
