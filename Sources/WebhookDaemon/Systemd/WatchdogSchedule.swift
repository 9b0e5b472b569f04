/// When the daemon sends `WATCHDOG=1`: every half of `$WATCHDOG_USEC`, if it is meant for this process.
///
/// systemd sets `WATCHDOG_USEC` from `WatchdogSec=` and kills the service when no keep-alive
/// arrives within it; sending at half the period leaves room for one late wake-up.
/// `WATCHDOG_PID`, when set, names the process the watchdog is for: another process ignores it.
///
/// | `WatchdogSec=` | `WATCHDOG_USEC` | keep-alive every |
/// |---|---|---|
/// | 30s | 30000000 | 15 s |
/// | 1s | 1000000 | 0.5 s |
/// | (unset) | (unset) | never |
public struct WatchdogSchedule: Sendable, Hashable {
    /// Time between keep-alives, or nil when no watchdog is asked for.
    public let interval: Duration?

    /// Reads the values of `WATCHDOG_USEC` and `WATCHDOG_PID` for the process `processID`.
    public init(watchdogUsec: String?, watchdogPID: String?, processID: Int) {
        guard let usec = watchdogUsec.flatMap({ Int64($0) }), usec > 0 else {
            interval = nil
            return
        }
        if let pid = watchdogPID, !pid.isEmpty, Int(pid) != processID {
            interval = nil
            return
        }
        interval = .microseconds(usec / 2)
    }

    /// Whether a keep-alive is due at `now`, the previous one sent at `last`.
    public static func isDue(last: ContinuousClock.Instant?, now: ContinuousClock.Instant, interval: Duration) -> Bool {
        guard let last else { return true }
        return now - last >= interval
    }

    /// `timeout`, shortened to the keep-alive interval, so a loop that waits still pings in time.
    public func capping(_ timeout: Duration) -> Duration {
        guard let interval else { return timeout }
        return min(timeout, interval)
    }
}
