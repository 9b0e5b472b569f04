import CQR3PQ

#if canImport(Glibc)
    import Glibc
#endif

/// A PostgreSQL database to connect to: a `postgresql://user@host:port/db` URL (libpq's own
/// syntax, so `?sslmode=require` and the like work), and the password kept apart from it.
///
/// The password comes from a file or the environment, never from the command line, so it is not
/// shown by `ps`; libpq's own `PGPASSWORD` and `~/.pgpass` work too. The description names the
/// user, host, port and database only: it is what logs and errors print.
public struct PostgresLocation: Sendable, CustomStringConvertible {
    /// The URL, without any password it carried.
    public let url: String
    let password: String?
    /// host:port/database as an operator reads it (no user, no password).
    public let description: String

    /// Reads `url`; a password in it is taken out and used (but never printed), unless `password`
    /// is given.
    ///
    /// - Throws: ``PostgresError`` when libpq cannot read the URL.
    public init(url: String, password: String? = nil) throws {
        var errorText: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(url, &errorText) else {
            let message = errorText.map { String(cString: $0).trimmingWhitespace() } ?? "not a PostgreSQL URL"
            if let errorText { PQfreemem(errorText) }
            throw PostgresError(
                sqlState: nil, message: "cannot read the database URL: \(message)", connectionLost: false)
        }
        defer { PQconninfoFree(options) }
        var values: [String: String] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { values[String(cString: keyword)] = String(cString: value) }
            option += 1
        }
        self.password = password ?? values["password"]
        var stripped = url
        if let inURL = values["password"], let range = Self.passwordRange(in: url, password: inURL) {
            stripped.replaceSubrange(range, with: "")
        }
        self.url = stripped
        let host = values["host"] ?? values["hostaddr"] ?? "localhost"
        let port = values["port"] ?? "5432"
        let user = values["user"].map { "\($0)@" } ?? ""
        description = "postgresql://\(user)\(host):\(port)/\(values["dbname"] ?? values["user"] ?? "")"
    }

    /// The libpq connection parameters (the URL expands into `dbname`).
    var parameters: [(String, String)] {
        var parameters = [
            ("dbname", url),
            ("application_name", "qr3-webhookd"),
            ("connect_timeout", "5"),
            // Dead peers are noticed within about half a minute, not the kernel's two hours.
            ("keepalives_idle", "10"), ("keepalives_interval", "5"), ("keepalives_count", "3"),
        ]
        if let password { parameters.append(("password", password)) }
        return parameters
    }

    /// The `:password` part of `user:password@` in a URL.
    private static func passwordRange(in url: String, password: String) -> Range<String.Index>? {
        guard let scheme = url.firstRange(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else {
            return nil
        }
        let authority = url[scheme.upperBound..<at]
        guard let colon = authority.firstIndex(of: ":") else { return nil }
        return colon..<at
    }

    /// Whether `value` names a PostgreSQL database rather than a file.
    public static func isURL(_ value: String) -> Bool {
        value.hasPrefix("postgresql://") || value.hasPrefix("postgres://")
    }
}
