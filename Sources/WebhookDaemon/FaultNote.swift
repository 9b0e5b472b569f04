#if canImport(Glibc)
    import Glibc
#endif
import Foundation
import WebhookCore
import WebhookStorage

/// What the daemon last said about its database, for `qr3-webhookd status`, another process.
///
/// A failing database cannot hold its own fault, so the daemon keeps this note in a small file
/// beside it (`<database>-status`, mode 0600). The file is written once at start at its full
/// size and then only overwritten in place: on a full disk that needs no new block. Several
/// daemons on one database share the file; the last one to fail or recover wrote it. A database
/// on a server has no file to keep it beside, so there is no note (``DatabaseLocation/filePath``).
public struct FaultNote: Codable, Sendable, Hashable {
    /// The daemon process that wrote the note.
    public var pid: Int32
    /// Whether its database was failing.
    public var failing: Bool
    /// The fault's kind (`disk_full`), while failing.
    public var fault: String?
    /// The database's own words, while failing.
    public var error: String?
    /// When the fault began (ISO 8601), while failing.
    public var since: String?
    /// Failed tries so far.
    public var tries: Int
    /// Attempt results the daemon holds in memory until the database takes them.
    public var results_waiting: Int
    /// When the note was written (ISO 8601).
    public var updated: String

    /// A note saying the database answers.
    static func healthy() -> FaultNote {
        FaultNote(
            pid: getpid(), failing: false, tries: 0, results_waiting: 0, updated: Timestamp.now().iso8601)
    }

    /// A note for `fault`.
    static func failing(_ fault: StoreHealth.Fault) -> FaultNote {
        FaultNote(
            pid: getpid(), failing: true, fault: fault.fault.kind.rawValue,
            error: String(fault.fault.detail.prefix(200)),
            since: fault.since.iso8601, tries: fault.tries, results_waiting: fault.resultsWaiting,
            updated: Timestamp.now().iso8601)
    }

    /// The note beside the database at `databasePath`, if a running daemon wrote one.
    public static func read(databasePath: String) -> FaultNote? {
        guard let data = FileManager.default.contents(atPath: FaultNoteFile.path(for: databasePath)),
            let note = try? JSONDecoder().decode(FaultNote.self, from: data)
        else { return nil }
        // A note of a daemon that is gone says nothing about now.
        return kill(note.pid, 0) == 0 || errno == EPERM ? note : nil
    }
}

/// The file a daemon keeps its ``FaultNote`` in: sized once, then overwritten in place.
final class FaultNoteFile: Sendable {
    /// The file's size: every note is padded to it with spaces.
    static let size = 1024
    private let descriptor: Int32

    /// `<database>-status`.
    static func path(for databasePath: String) -> String { databasePath + "-status" }

    /// Creates (or reuses) the file beside the database and writes a healthy note; nil when it cannot.
    init?(databasePath: String) {
        let descriptor = open(Self.path(for: databasePath), O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return nil }
        self.descriptor = descriptor
        guard write(.healthy()) else {
            close(descriptor)
            return nil
        }
    }

    deinit { close(descriptor) }

    /// Overwrites the note; false when the write failed.
    @discardableResult
    func write(_ note: FaultNote) -> Bool {
        guard var bytes = try? JSONEncoder().encode(note).map({ $0 }), bytes.count < Self.size else { return false }
        bytes += [UInt8](repeating: UInt8(ascii: " "), count: Self.size - 1 - bytes.count) + [UInt8(ascii: "\n")]
        return bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) } == Self.size
    }
}
