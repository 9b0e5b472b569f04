/// Tells the daemon when there may be new work: a new outbox row, a job made due by another process.
///
/// Each store has its own source: SQLite an inotify watch on its file's folder, PostgreSQL
/// `LISTEN`/`NOTIFY`. A notice may be spurious, and a store without a source may send none: the
/// delivery loop's poll interval covers what a watch misses.
public protocol StoreChangeWatch: Sendable {
    /// Watches until `stop()`; returns when the watch has ended.
    func run() async
    /// Ends the watch soon (within a poll interval).
    func stop()
}
