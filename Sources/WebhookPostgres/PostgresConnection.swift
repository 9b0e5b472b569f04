import CQR3PQ
#if canImport(Glibc)
    import Glibc
#endif
import WebhookCore

/// A value bound to a statement parameter: sent as text, as libpq's text format reads it.
public enum PostgresValue: Sendable, Hashable {
    case null
    case text(String)
    case int(Int64)
    case bool(Bool)

    var text: String? {
        switch self {
        case .null: nil
        case .text(let value): value
        case .int(let value): String(value)
        case .bool(let value): value ? "t" : "f"
        }
    }
}

extension PostgresValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(nilLiteral: ()) { self = .null }
}

extension PostgresValue {
    /// An optional string: `null` for nil.
    static func text(_ value: String?) -> PostgresValue { value.map(PostgresValue.text) ?? .null }
    /// An optional integer: `null` for nil.
    static func int(_ value: Int64?) -> PostgresValue { value.map(PostgresValue.int) ?? .null }
    /// An optional time, as the milliseconds every table stores.
    static func time(_ value: Timestamp?) -> PostgresValue { value.map { .int($0.milliseconds) } ?? .null }
}

/// An error PostgreSQL or libpq reported: its SQLSTATE (when the server sent one) and message.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    /// The five-character SQLSTATE, e.g. `23505` for a unique violation; nil for client errors.
    public var sqlState: String?
    public var message: String
    /// Whether the connection is unusable afterwards (lost, or never made).
    public var connectionLost: Bool

    public var description: String {
        sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message
    }

    /// A unique constraint was violated.
    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// The transaction lost a race it may win if tried again (serialization failure, deadlock).
    public var isRetryable: Bool { sqlState == "40001" || sqlState == "40P01" }
}

/// The rows of one statement's result, read by column index in text format.
public struct PostgresRows: ~Copyable {
    fileprivate let result: OpaquePointer?

    /// The number of rows returned.
    public let count: Int
    /// The number of rows a command changed (UPDATE, DELETE, INSERT).
    public let affected: Int

    fileprivate init(_ result: OpaquePointer?) {
        self.result = result
        self.count = result.map { Int(PQntuples($0)) } ?? 0
        let tuples = result.flatMap { PQcmdTuples($0) }.map { String(cString: $0) } ?? ""
        self.affected = Int(tuples) ?? 0
    }

    deinit { if let result { PQclear(result) } }

    public func isNull(_ row: Int, _ column: Int) -> Bool {
        PQgetisnull(result, Int32(row), Int32(column)) != 0
    }

    public func string(_ row: Int, _ column: Int) -> String {
        let length = Int(PQgetlength(result, Int32(row), Int32(column)))
        guard let value = PQgetvalue(result, Int32(row), Int32(column)) else { return "" }
        return value.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    public func optionalString(_ row: Int, _ column: Int) -> String? {
        isNull(row, column) ? nil : string(row, column)
    }

    /// The value's UTF-8 bytes, as stored in a `text` column.
    public func bytes(_ row: Int, _ column: Int) -> [UInt8] {
        let length = Int(PQgetlength(result, Int32(row), Int32(column)))
        guard let value = PQgetvalue(result, Int32(row), Int32(column)) else { return [] }
        return value.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        }
    }

    public func int64(_ row: Int, _ column: Int) -> Int64 {
        guard let value = PQgetvalue(result, Int32(row), Int32(column)) else { return 0 }
        return strtoll(value, nil, 10)
    }

    public func optionalInt64(_ row: Int, _ column: Int) -> Int64? {
        isNull(row, column) ? nil : int64(row, column)
    }

    public func int(_ row: Int, _ column: Int) -> Int { Int(int64(row, column)) }

    public func bool(_ row: Int, _ column: Int) -> Bool {
        guard let value = PQgetvalue(result, Int32(row), Int32(column)) else { return false }
        return value.pointee == UInt8(ascii: "t")
    }

    public func time(_ row: Int, _ column: Int) -> Timestamp { Timestamp(milliseconds: int64(row, column)) }

    public func optionalTime(_ row: Int, _ column: Int) -> Timestamp? {
        isNull(row, column) ? nil : time(row, column)
    }
}

/// One libpq connection, used by one thread at a time (a lane of ``PostgresDatabase``).
public final class PostgresConnection {
    private let handle: OpaquePointer

    /// Connects with `parameters` (libpq keywords; `dbname` may be a `postgresql://` URL).
    init(parameters: [(String, String)]) throws {
        var keywords = parameters.map { strdup($0.0) } + [nil]
        var values = parameters.map { strdup($0.1) } + [nil]
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let connection: OpaquePointer? = keywords.withUnsafeMutableBufferPointer { keywords in
            values.withUnsafeMutableBufferPointer { values in
                keywords.withMemoryRebound(to: UnsafePointer<CChar>?.self) { keywords in
                    values.withMemoryRebound(to: UnsafePointer<CChar>?.self) { values in
                        PQconnectdbParams(keywords.baseAddress, values.baseAddress, 1)
                    }
                }
            }
        }
        guard let connection else {
            throw PostgresError(sqlState: nil, message: "out of memory connecting to PostgreSQL", connectionLost: true)
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.message(PQerrorMessage(connection))
            PQfinish(connection)
            throw PostgresError(sqlState: nil, message: message, connectionLost: true)
        }
        handle = connection
    }

    deinit { PQfinish(handle) }

    /// Whether a statement completed since the pool handed the connection out: a connection
    /// found broken before any did can be replaced and the work run again, nothing having run.
    var completedStatement = false

    /// Whether the connection still works (as far as libpq knows without asking the server).
    public var isHealthy: Bool { PQstatus(handle) == CONNECTION_OK }

    /// The connection's socket, for waiting on notifications.
    var socket: Int32 { PQsocket(handle) }

    /// Runs one statement with `parameters` bound to `$1`, `$2`... and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ parameters: [PostgresValue] = []) throws -> PostgresRows {
        let texts = parameters.map { $0.text.map { strdup($0) } ?? nil }
        defer { texts.forEach { free($0) } }
        let result: OpaquePointer? =
            if parameters.isEmpty {
                PQexec(handle, sql)
            } else {
                texts.withUnsafeBufferPointer { texts in
                    texts.withMemoryRebound(to: UnsafePointer<CChar>?.self) { texts in
                        PQexecParams(handle, sql, Int32(parameters.count), nil, texts.baseAddress, nil, nil, 0)
                    }
                }
            }
        let rows = PostgresRows(result)
        let status = result.map(PQresultStatus) ?? PGRES_FATAL_ERROR
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            throw error(result)
        }
        completedStatement = true
        return rows
    }

    /// Runs `body` between `begin` and COMMIT; rolls back (when the connection still works) and
    /// rethrows when it throws.
    public func inTransaction<T>(_ begin: String = "BEGIN", _ body: (PostgresConnection) throws -> T) throws -> T {
        try execute(begin)
        do {
            let value = try body(self)
            try execute("COMMIT")
            return value
        } catch {
            if isHealthy { try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Runs statements without parameters, `;`-separated (migrations).
    public func execute(_ sql: String) throws {
        try query(sql)
    }

    /// The notifications received so far: channel and payload. Reads what the socket holds.
    func notifications() throws -> [(channel: String, payload: String)] {
        guard PQconsumeInput(handle) != 0 else {
            throw PostgresError(
                sqlState: nil, message: Self.message(PQerrorMessage(handle)), connectionLost: true)
        }
        var received: [(String, String)] = []
        while let notification = PQnotifies(handle) {
            received.append((String(cString: notification.pointee.relname), String(cString: notification.pointee.extra)))
            PQfreemem(notification)
        }
        return received
    }

    private func error(_ result: OpaquePointer?) -> PostgresError {
        let state = result.flatMap { PQresultErrorField($0, Int32(UInt8(ascii: "C"))) }.map { String(cString: $0) }
        let message = result.map { Self.message(PQresultErrorMessage($0)) } ?? ""
        return PostgresError(
            sqlState: state,
            message: message.isEmpty ? Self.message(PQerrorMessage(handle)) : message,
            connectionLost: !isHealthy || (state?.hasPrefix("08") ?? false) || state == "57P01"
                || state == "57P02" || state == "57P03"
        )
    }

    private static func message(_ text: UnsafeMutablePointer<CChar>?) -> String {
        guard let text else { return "unknown libpq error" }
        return String(cString: text).trimmingWhitespace()
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        return String(scalars)
    }
}
