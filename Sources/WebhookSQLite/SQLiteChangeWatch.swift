#if canImport(Glibc)
    import Glibc
#endif
import Foundation
import Logging
import Synchronization
import WebhookStorage

extension SQLiteWebhookStore {
    public func watchChanges(onChange: @escaping @Sendable () -> Void, logger: Logger) -> any StoreChangeWatch {
        SQLiteChangeWatch(databasePath: path, onChange: onChange, logger: logger)
    }
}

/// Notices commits to the database file from any process, so a new outbox row is taken in at once.
///
/// Every SQLite commit in WAL mode writes the `-wal` file; an inotify watch on the database's
/// folder sees it within microseconds, with no cost while nothing happens. Each notice calls
/// `onChange`. Where inotify is not available the delivery loop's own poll interval covers it.
final class SQLiteChangeWatch: StoreChangeWatch {
    private let databasePath: String
    private let onChange: @Sendable () -> Void
    private let logger: Logger
    private let stopped = Atomic<Bool>(false)

    init(databasePath: String, onChange: @escaping @Sendable () -> Void, logger: Logger) {
        self.databasePath = databasePath
        self.onChange = onChange
        self.logger = logger
    }

    /// Watches on a dedicated thread until `stop()`; returns when the thread has ended.
    func run() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let started = WatchThread.start(name: "qr3-outbox") { [self] in
                watch()
                continuation.resume()
            }
            if !started {
                logger.notice(
                    "Cannot start the thread that watches the database; checking the outbox every poll interval")
                continuation.resume()
            }
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
        guard watching else {
            logger.notice(
                "Cannot watch the database folder for changes; checking the outbox every poll interval",
                metadata: ["folder": "\(folder)"]
            )
            if descriptor >= 0 { close(descriptor) }
            return
        }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while !stopped.load(ordering: .relaxed) {
            var pollDescriptor = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            // A bounded wait, so `stop()` is noticed within 200 ms.
            guard poll(&pollDescriptor, 1, 200) > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { continue }
            if Self.names(in: buffer, count: count).contains(where: names.contains) {
                onChange()
                // Every write to the WAL is an event; a busy database makes thousands a second.
                // Report at once, then let the rest gather for a millisecond and take them together.
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
