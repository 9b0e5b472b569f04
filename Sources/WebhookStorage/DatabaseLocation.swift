/// Which database the `database` setting (`--database`) names, and so which store opens it.
///
/// A path (or `sqlite:` / `file:` and a path) is an SQLite file; `postgresql://` and
/// `postgres://` URLs name a PostgreSQL server. Only what is truly about a file (notes kept
/// beside it, a check that it exists) asks ``filePath``; everything else goes through the store.
public enum DatabaseLocation: Sendable, Hashable, CustomStringConvertible {
    /// An SQLite database file.
    case sqlite(path: String)
    /// A PostgreSQL server, as a libpq connection URL.
    case postgresql(url: String)

    /// Reads a `database` setting; throws when it names nothing (an empty path).
    public init(parsing value: String) throws {
        let lowered = value.lowercased()
        if lowered.hasPrefix("postgresql://") || lowered.hasPrefix("postgres://") {
            self = .postgresql(url: value)
            return
        }
        var path = Substring(value)
        for scheme in ["sqlite:", "file:"] where lowered.hasPrefix(scheme) {
            path = path.dropFirst(scheme.count)
            // `sqlite:///var/lib/x.sqlite`: an empty authority before an absolute path.
            if path.hasPrefix("///") { path = path.dropFirst(2) }
            break
        }
        guard !path.isEmpty else {
            throw StorageError("the database setting \"\(value)\" names no file: give a path or a postgresql:// URL")
        }
        self = .sqlite(path: String(path))
    }

    /// The database file's path, for what lives beside it (the daemon's notes for `status`);
    /// nil for a database on a server.
    public var filePath: String? {
        switch self {
        case .sqlite(let path): path
        case .postgresql: nil
        }
    }

    /// The path, or the URL without its password: safe to log and print.
    public var description: String {
        switch self {
        case .sqlite(let path): path
        case .postgresql(let url): Self.redactingPassword(url)
        }
    }

    /// `postgresql://user:secret@host/db` as `postgresql://user:***@host/db`.
    private static func redactingPassword(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@"),
            let colon = rest[..<at].firstIndex(of: ":")
        else { return url }
        return String(url[..<rest.index(after: colon)]) + "***" + String(rest[at...])
    }
}
