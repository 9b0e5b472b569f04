import CQR3PQ
import Dispatch
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Wakes the daemon when a new outbox row commits, from any host: a trigger on the outbox sends
/// `NOTIFY qr3_outbox` and this watch holds a connection that `LISTEN`s for it.
///
/// Notifications are delivered at commit, so a producer's row is seen within milliseconds. When
/// the listening connection breaks it is made again with a back-off (100 ms doubling to 5 s), and
/// the daemon is woken once it is back, since a notification sent meanwhile was lost; the
/// delivery loop's poll interval covers the gap.
public final class PostgresChangeWatch: Sendable {
    /// The channel the outbox trigger notifies.
    public static let channel = "qr3_outbox"

    private let location: PostgresLocation
    private let onChange: @Sendable () -> Void
    private let logger: Logger
    private let stopped = Atomic<Bool>(false)

    public init(location: PostgresLocation, onChange: @escaping @Sendable () -> Void, logger: Logger) {
        self.location = location
        self.onChange = onChange
        self.logger = logger
    }

    /// Watches on a queue of its own until `stop()`; returns when the watch has ended.
    public func run() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue(label: "qr3-listen").async { [self] in
                watch()
                continuation.resume()
            }
        }
    }

    /// Ends the watch within 200 ms.
    public func stop() {
        stopped.store(true, ordering: .relaxed)
    }

    private func watch() {
        var backoff = Duration.zero
        var failing = false
        while !stopped.load(ordering: .relaxed) {
            do {
                let connection = try PostgresConnection(parameters: location.parameters)
                try connection.execute("LISTEN \(Self.channel)")
                if failing {
                    logger.notice("Listening for new outbox rows again", metadata: ["database": "\(location)"])
                }
                (backoff, failing) = (.zero, false)
                // Rows committed while nobody listened are found now.
                onChange()
                while !stopped.load(ordering: .relaxed) {
                    let ready = cqr3_pq_wait_readable(connection.socket, 200)
                    guard ready != 0 else { continue }
                    if ready < 0, errno == EINTR { continue }
                    if try !connection.notifications().isEmpty { onChange() }
                }
            } catch {
                if !failing {
                    logger.warning(
                        "Lost the connection that listens for new outbox rows; polling until it is back",
                        metadata: ["database": "\(location)", "error": "\(error)"])
                }
                failing = true
                backoff = min(max(backoff * 2, .milliseconds(100)), .seconds(5))
                sleep(for: backoff)
            }
        }
    }

    /// Sleeps for `duration`, in slices that notice `stop()`.
    private func sleep(for duration: Duration) {
        var left = duration
        while left > .zero, !stopped.load(ordering: .relaxed) {
            let slice = min(left, .milliseconds(100))
            usleep(UInt32(slice.components.attoseconds / 1_000_000_000_000) + UInt32(slice.components.seconds) * 1_000_000)
            left -= slice
        }
    }
}
