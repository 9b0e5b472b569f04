import GRDB
import GRDBSQLite

/// The values of one execution of a prepared statement, bound straight through the SQLite C API.
///
/// For the few statements the delivery loop runs for every attempt: GRDB's `StatementArguments`
/// box every value in an existential and an array first, which costs more than the binding.
struct RawArguments {
    fileprivate let statement: OpaquePointer
    fileprivate var index: Int32 = 1

    /// Binds the next parameter.
    mutating func bind(_ value: Int64) {
        sqlite3_bind_int64(statement, index, value)
        index += 1
    }

    mutating func bind(_ value: Int) { bind(Int64(value)) }

    mutating func bind(_ value: Int64?) {
        if let value { bind(value) } else { bindNull() }
    }

    mutating func bind(_ value: Int?) { bind(value.map(Int64.init)) }

    mutating func bind(_ value: String) {
        var value = value
        value.withUTF8 { bytes in
            // SQLITE_TRANSIENT: SQLite copies the text before this returns. By length, not up
            // to a NUL: text may contain one.
            if let base = bytes.baseAddress, !bytes.isEmpty {
                let text = UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self)
                _ = sqlite3_bind_text(statement, index, text, Int32(bytes.count), Self.transient)
            } else {
                _ = sqlite3_bind_text(statement, index, "", 0, Self.transient)
            }
        }
        index += 1
    }

    mutating func bind(_ value: String?) {
        if let value { bind(value) } else { bindNull() }
    }

    mutating func bindNull() {
        sqlite3_bind_null(statement, index)
        index += 1
    }

    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
}

/// The current row of a statement stepped with ``GRDB/Statement/forEachRawRow(_:_:)``.
struct RawRow {
    fileprivate let statement: OpaquePointer

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }

    func string(_ column: Int32) -> String {
        guard let text = sqlite3_column_text(statement, column) else { return "" }
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }

    func optionalString(_ column: Int32) -> String? {
        sqlite3_column_type(statement, column) == SQLITE_NULL ? nil : string(column)
    }

    func bytes(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let blob = sqlite3_column_blob(statement, column) else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: blob, count: count))
    }
}

extension Statement {
    /// Runs the statement once with the values `bind` sets, to its end; returns the rows it changed.
    @discardableResult
    func executeRaw(_ bind: (inout RawArguments) -> Void) throws -> Int {
        try forEachRawRow(bind) { _ in true }
        return Int(sqlite3_changes(sqlite3_db_handle(sqliteStatement)))
    }

    /// Runs the statement once with the values `bind` sets, handing each row to `body` until it
    /// returns false.
    func forEachRawRow(_ bind: (inout RawArguments) -> Void, _ body: (RawRow) throws -> Bool) throws {
        let statement = sqliteStatement
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
        var arguments = RawArguments(statement: statement)
        bind(&arguments)
        defer { sqlite3_reset(statement) }
        while true {
            let code = sqlite3_step(statement)
            switch code {
            case SQLITE_ROW:
                guard try body(RawRow(statement: statement)) else { return }
            case SQLITE_DONE:
                return
            default:
                throw DatabaseError(
                    resultCode: ResultCode(rawValue: code),
                    message: String(cString: sqlite3_errmsg(sqlite3_db_handle(statement))),
                    sql: sql
                )
            }
        }
    }
}
