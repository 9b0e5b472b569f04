/// What went wrong with the store, in terms an operator acts on, whatever the backend.
///
/// Each store classifies its own errors (SQLite result codes, a PostgreSQL connection state)
/// into one of these kinds, so the daemon backs off, reports and recovers the same way for all.
public struct StoreFault: Sendable, Hashable, CustomStringConvertible {
    /// The class of the fault.
    public var kind: Kind
    /// The backend's own words for it (`database or disk is full`), for the log.
    public var detail: String

    public init(_ kind: Kind, detail: String) {
        self.kind = kind
        self.detail = detail
    }

    /// The classes of store faults.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The filesystem (or the WAL) has no room left.
        case diskFull = "disk_full"
        /// The operating system failed a read or write (EIO): a failing disk, a lost network mount.
        case ioError = "io_error"
        /// The file or its folder cannot be written (permissions, a read-only mount).
        case readOnly = "read_only"
        /// The database file was removed or replaced under the running daemon.
        case fileMoved = "file_moved"
        /// A database server stopped answering (for client-server backends).
        case connectionLost = "connection_lost"
        /// Another process held a lock longer than the store waits for one.
        case busy
        /// Anything else the store could not do.
        case other

        /// A short phrase for the status line and `/healthz`: `disk full`.
        public var phrase: String {
            switch self {
            case .diskFull: "disk full"
            case .ioError: "I/O error"
            case .readOnly: "database not writable"
            case .fileMoved: "database file removed or replaced"
            case .connectionLost: "database connection lost"
            case .busy: "database locked by another process"
            case .other: "database error"
            }
        }

        /// What the operator can do about it, for the first log line.
        public var remedy: String {
            switch self {
            case .diskFull: "free space on the filesystem holding the database"
            case .ioError: "check the disk and the kernel log (dmesg)"
            case .readOnly: "make the database file, its folder and its mount writable for the daemon"
            case .fileMoved: "put the database file back, or restart the daemon to open the new one"
            case .connectionLost: "check the database server and the network"
            case .busy: "find the process holding the write lock"
            case .other: "see the error"
            }
        }

        /// Whether it usually passes without anyone doing anything (a lock), so it is a warning, not an error.
        public var isTransient: Bool { self == .busy }
    }

    /// `disk full: database or disk is full`.
    public var description: String { "\(kind.phrase): \(detail)" }
}
