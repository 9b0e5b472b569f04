/// One numbered schema change from `migrations/postgresql/`, applied once and recorded.
struct PostgresMigration: Sendable {
    let version: Int
    let name: String
    let sql: String
}

/// Applies the embedded PostgreSQL migrations in order, one daemon at a time, and refuses
/// databases from newer versions.
enum PostgresMigrator {
    /// The newest schema version this binary knows.
    static var latestVersion: Int { PostgresMigration.embedded.map(\.version).max() ?? 0 }

    /// Any fixed number: daemons starting together take this advisory lock, so one migrates and
    /// the others find the schema up to date.
    private static let lockKey: Int64 = 0x7172_3377_6864

    /// Brings the schema up to date in one transaction; returns the names of the migrations applied.
    ///
    /// - Throws: ``PostgresError`` when the database was written by a newer qr3-webhookd.
    static func migrate(_ connection: PostgresConnection) throws -> [String] {
        try connection.inTransaction { connection in
            try connection.query("SELECT pg_advisory_xact_lock($1)", [.int(lockKey)])
            return try apply(connection)
        }
    }

    private static func apply(_ connection: PostgresConnection) throws -> [String] {
        try connection.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text    NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
        let rows = try connection.query("SELECT version FROM schema_migrations")
        let applied = Set((0..<rows.count).map { rows.int($0, 0) })
        if let newest = applied.max(), newest > latestVersion {
            throw PostgresError(
                sqlState: nil,
                message: "the database has schema version \(newest), written by a newer qr3-webhookd; this "
                    + "binary knows versions up to \(latestVersion). Run the newer binary, or restore a backup.",
                connectionLost: false)
        }
        var names: [String] = []
        for migration in PostgresMigration.embedded.sorted(by: { $0.version < $1.version })
        where !applied.contains(migration.version) {
            try connection.execute(migration.sql)
            try connection.query(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                [.int(Int64(migration.version)), .text(migration.name)])
            names.append(migration.name)
        }
        return names
    }

    /// The schema version a database is at (0 for an empty one).
    static func currentVersion(_ connection: PostgresConnection) throws -> Int {
        let exists = try connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL")
        guard exists.bool(0, 0) else { return 0 }
        let rows = try connection.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        return rows.int(0, 0)
    }
}
