import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Notices the database file being removed or replaced under an open store.
///
/// In WAL mode SQLite does not: its connections keep writing to the file they opened, so after an
/// `rm` or a `mv` of another file into place every commit goes to a file nobody will read again.
/// ``verify()`` compares the path's device and inode with those of the file opened; the store
/// calls it from its housekeeping (a few times a second), and every read and write first checks
/// the flag it leaves (one atomic load) and refuses with ``DatabaseFileMovedError`` while it is
/// set: writes would be lost, reads would show what nobody writes any more. When the same file is
/// back at the path (moved back), work goes on; another file there needs a restart to be opened.
final class DatabaseFileWatch: Sendable {
    private let path: String
    /// Device and inode of the file opened, nil when they could not be read.
    private let opened: (device: UInt64, inode: UInt64)?
    private let moved = Atomic<Bool>(false)

    init(path: String) {
        self.path = path
        opened = Self.identity(path)
    }

    /// Throws while the last ``verify()`` found the file gone or replaced.
    func checkOpenFile() throws(DatabaseFileMovedError) {
        if moved.load(ordering: .relaxed) {
            throw DatabaseFileMovedError(path: path, replaced: Self.identity(path) != nil)
        }
    }

    /// Looks at the path again; throws when it no longer leads to the file opened.
    func verify() throws(DatabaseFileMovedError) {
        guard let opened else { return }
        let now = Self.identity(path)
        let isMoved = now.map { $0 != opened } ?? true
        moved.store(isMoved, ordering: .relaxed)
        if isMoved { throw DatabaseFileMovedError(path: path, replaced: now != nil) }
    }

    private static func identity(_ path: String) -> (device: UInt64, inode: UInt64)? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return (UInt64(status.st_dev), UInt64(status.st_ino))
    }
}

/// The database file was removed or replaced while the store had it open: reads and writes are
/// refused, since they would go to a file nobody reads again.
public struct DatabaseFileMovedError: Error, Sendable, CustomStringConvertible {
    /// The database's path.
    public let path: String
    /// True when another file is at the path now, false when there is none.
    public let replaced: Bool

    public var description: String {
        let what = replaced ? "replaced by another file" : "removed"
        return "the database file \(path) was \(what) while open; nothing is read or written until the file "
            + "opened is back at its path (or the daemon restarts)"
    }
}
