#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Synchronization

/// Notices commits to the database file from any process, so a new outbox row is taken in at once.
///
/// Every SQLite commit in WAL mode writes the `-wal` file; an inotify watch on the database's
/// folder sees it within microseconds, with no cost while nothing happens. A slower periodic
/// tick (`pollInterval`) covers file systems without inotify. Each notice signals `wakeup`.
final class OutboxWatcher: Sendable {
    private let databasePath: String
    private let pollInterval: Double
    private let wakeup: Wakeup
    private let logger: Logger
    private let stopped = Atomic<Bool>(false)

    init(databasePath: String, pollInterval: Double, wakeup: Wakeup, logger: Logger) {
        self.databasePath = databasePath
        self.pollInterval = pollInterval
        self.wakeup = wakeup
        self.logger = logger
    }

    /// Watches on a dedicated thread until `stop()`; returns when the thread has ended.
    func run() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread { [self] in
                watch()
                continuation.resume()
            }
            thread.name = "qr3-outbox-watch"
            thread.start()
        }
    }

    /// Ends the watch within one poll interval.
    func stop() {
        stopped.store(true, ordering: .relaxed)
    }

    private func watch() {
        let url = URL(fileURLWithPath: databasePath).standardizedFileURL
        let folder = url.deletingLastPathComponent().path
        let names: Set<String> = [url.lastPathComponent, url.lastPathComponent + "-wal"]
        let descriptor = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        var watching = false
        if descriptor >= 0 {
            let mask = UInt32(IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO)
            watching = inotify_add_watch(descriptor, folder, mask) >= 0
        }
        if !watching {
            logger.notice(
                "Cannot watch the database folder for changes; checking the outbox on a timer",
                metadata: ["folder": "\(folder)", "interval_s": "\(pollInterval)"]
            )
        }
        defer { if descriptor >= 0 { close(descriptor) } }
        let timeoutMs = Int32(max(1, min(pollInterval * 1000, 1000)))
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while !stopped.load(ordering: .relaxed) {
            guard watching else {
                usleep(UInt32(timeoutMs) * 1000)
                wakeup.signal()
                continue
            }
            var pollDescriptor = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pollDescriptor, 1, timeoutMs)
            if ready <= 0 {
                wakeup.signal()
                continue
            }
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { continue }
            if Self.names(in: buffer, count: count).contains(where: names.contains) {
                wakeup.signal()
                // Every write to the WAL is an event; a busy database makes thousands a second.
                // Signal at once, then let the rest gather for a millisecond and take them together.
                usleep(1000)
            }
        }
    }

    /// The file names of the inotify events in the first `count` bytes of `buffer`.
    private static func names(in buffer: [UInt8], count: Int) -> [String] {
        var names: [String] = []
        var offset = 0
        let header = MemoryLayout<inotify_event>.size
        while offset + header <= count {
            let length = buffer.withUnsafeBytes { raw in
                Int(raw.load(fromByteOffset: offset + 12, as: UInt32.self))
            }
            let start = offset + header
            let end = min(start + length, count)
            if length > 0 {
                let bytes = buffer[start..<end].prefix { $0 != 0 }
                names.append(String(decoding: bytes, as: UTF8.self))
            }
            offset = start + length
        }
        return names
    }
}
