import GRDB
import WebhookStorage

/// One numbered schema change from `migrations/`, applied once and recorded.
struct Migration: Sendable {
    let version: Int
    let name: String
    let sql: String
}

/// Applies the embedded migrations in order and refuses databases from newer versions.
enum Migrator {
    /// The newest schema version this binary knows.
    static var latestVersion: Int { Migration.embedded.map(\.version).max() ?? 0 }

    /// Brings the schema up to date; returns the names of the migrations applied now.
    ///
    /// - Throws: ``StorageError`` when the database was written by a newer qr3-webhookd.
    static func migrate(_ writer: some DatabaseWriter) throws -> [String] {
        // An up-to-date database (the usual case) needs no write lock: a CLI command or a second
        // daemon does not wait behind a producer's transaction just to learn that.
        if try currentVersion(writer) == latestVersion { return [] }
        // Foreign keys are off while migrations run, as SQLite's procedure for changing a table's
        // definition asks (a table is copied, dropped and renamed), and checked before the commit.
        return try writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA foreign_keys = OFF")
            // A migration that copies a table sorts its index entries: in temporary files, not in
            // memory, so a large database does not need its size in RAM to upgrade.
            try db.execute(sql: "PRAGMA temp_store = FILE")
            defer {
                try? db.execute(sql: "PRAGMA foreign_keys = ON")
                try? db.execute(sql: "PRAGMA temp_store = MEMORY")
            }
            var names: [String] = []
            try db.inTransaction(.immediate) {
                names = try apply(db)
                return .commit
            }
            return names
        }
    }

    /// Applies the pending migrations inside the caller's transaction; returns their names.
    private static func apply(_ db: Database) throws -> [String] {
        try db.execute(
            sql: """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    INTEGER PRIMARY KEY,
                    name       TEXT    NOT NULL,
                    applied_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                )
                """
        )
        let applied = try Set(Int.fetchAll(db, sql: "SELECT version FROM schema_migrations"))
        if let newest = applied.max(), newest > latestVersion {
            throw StorageError(
                "the database has schema version \(newest), written by a newer qr3-webhookd; this binary "
                    + "knows versions up to \(latestVersion). Run the newer binary, or restore a backup."
            )
        }
        var names: [String] = []
        for migration in Migration.embedded.sorted(by: { $0.version < $1.version })
        where !applied.contains(migration.version) {
            try db.execute(sql: migration.sql)
            try db.execute(
                sql: "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                arguments: [migration.version, migration.name]
            )
            names.append(migration.name)
        }
        if let violation = try Row.fetchOne(db, sql: "PRAGMA foreign_key_check") {
            throw StorageError("a migration left a row whose reference is broken: \(violation)")
        }
        // One step higher than any migration took it, so that every connection to the file,
        // this one included, reads the schema again: a migration may edit a definition in
        // place (0007, 0008), which changes no schema version by itself.
        if !names.isEmpty, let version = try Int.fetchOne(db, sql: "PRAGMA schema_version") {
            try db.execute(sql: "PRAGMA schema_version = \(version + 1)")
        }
        return names
    }

    /// The schema version a database is at (0 for a new file).
    static func currentVersion(_ reader: some DatabaseReader) throws -> Int {
        try reader.read { db in
            guard try db.tableExists("schema_migrations") else { return 0 }
            return try Int.fetchOne(db, sql: "SELECT MAX(version) FROM schema_migrations") ?? 0
        }
    }
}
