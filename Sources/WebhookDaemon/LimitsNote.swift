#if canImport(Glibc)
    import Glibc
#endif
import Foundation
import WebhookCore

/// Each webhook's adaptive in-flight limit as a running daemon last wrote it, for
/// `qr3-webhookd status`, another process.
///
/// The limits live in the delivering process's memory (``ConcurrencyLimitBoard``); the status
/// service writes them to `<database>-limits` every `status-interval` when they changed, by
/// writing a new file and renaming it over the old. Several daemons on one database share the
/// file: each has limits of its own, and the last one to write is shown.
public struct LimitsNote: Codable, Sendable, Hashable {
    /// The daemon process that wrote the note.
    public var pid: Int32
    /// When the note was written (ISO 8601).
    public var updated: String
    /// The limit of a webhook with no attempt in that process yet.
    public var initial: Int
    /// `per-webhook-concurrency`: no limit grows beyond it.
    public var ceiling: Int
    /// Each webhook's limit, by webhook id (webhooks with an attempt in that process).
    public var limits: [String: Int]

    /// `<database>-limits`.
    static func path(for databasePath: String) -> String { databasePath + "-limits" }

    /// The note beside the database at `databasePath`, if a running daemon wrote one.
    public static func read(databasePath: String) -> LimitsNote? {
        guard let data = FileManager.default.contents(atPath: path(for: databasePath)),
            let note = try? JSONDecoder().decode(LimitsNote.self, from: data)
        else { return nil }
        // A note of a daemon that is gone says nothing about now.
        return kill(note.pid, 0) == 0 || errno == EPERM ? note : nil
    }

    /// Writes the note beside the database at `databasePath`; false when it could not.
    @discardableResult
    func write(databasePath: String) -> Bool {
        let target = Self.path(for: databasePath)
        let temporary = target + ".\(pid).tmp"
        guard let data = try? JSONEncoder().encode(self),
            FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600])
        else { return false }
        return rename(temporary, target) == 0
    }
}
