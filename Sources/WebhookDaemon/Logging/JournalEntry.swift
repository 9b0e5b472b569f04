/// One entry in the journal's native protocol: `FIELD=value` lines, binary-safe where needed.
///
/// A value without a newline is written `NAME=value\n`. A value with one is written `NAME\n`,
/// its length as a 64-bit little-endian integer, the bytes, and `\n`, so multi-line messages
/// and values arrive whole. Field names are upper-case letters, digits and `_`, at most 64
/// characters, not starting with a digit or `_` (names with `_` first are journald's own).
public struct JournalEntry: Sendable, Hashable {
    /// The fields in order; a name may repeat.
    public var fields: [(name: String, value: String)]

    public init(fields: [(name: String, value: String)] = []) {
        self.fields = fields
    }

    public static func == (lhs: JournalEntry, rhs: JournalEntry) -> Bool {
        lhs.fields.map(\.name) == rhs.fields.map(\.name) && lhs.fields.map(\.value) == rhs.fields.map(\.value)
    }

    public func hash(into hasher: inout Hasher) {
        for field in fields {
            hasher.combine(field.name)
            hasher.combine(field.value)
        }
    }

    /// Appends `value` under `name`.
    public mutating func append(_ name: String, _ value: String) {
        fields.append((name, value))
    }

    /// The first value of `name`.
    public subscript(name: String) -> String? {
        fields.first { $0.name == name }?.value
    }

    /// The datagram for journald's native socket.
    public var encoded: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 10 })
        for (name, value) in fields {
            bytes.append(contentsOf: name.utf8)
            if value.utf8.contains(UInt8(ascii: "\n")) {
                bytes.append(UInt8(ascii: "\n"))
                var length = UInt64(value.utf8.count).littleEndian
                withUnsafeBytes(of: &length) { bytes.append(contentsOf: $0) }
            } else {
                bytes.append(UInt8(ascii: "="))
            }
            bytes.append(contentsOf: value.utf8)
            bytes.append(UInt8(ascii: "\n"))
        }
        return bytes
    }

    /// Parses a native-protocol datagram; nil when it is malformed. The inverse of ``encoded``.
    public init?(decoding bytes: [UInt8]) {
        var fields: [(name: String, value: String)] = []
        var index = 0
        while index < bytes.count {
            guard let end = bytes[index...].firstIndex(where: { $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "\n") })
            else { return nil }
            let name = String(decoding: bytes[index..<end], as: UTF8.self)
            if bytes[end] == UInt8(ascii: "=") {
                let valueEnd = bytes[(end + 1)...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
                fields.append((name, String(decoding: bytes[(end + 1)..<valueEnd], as: UTF8.self)))
                index = valueEnd + 1
            } else {
                guard end + 9 <= bytes.count else { return nil }
                var length: UInt64 = 0
                for (shift, byte) in bytes[(end + 1)..<(end + 9)].enumerated() {
                    length |= UInt64(byte) << (8 * UInt64(shift))
                }
                let start = end + 9
                guard length <= UInt64(bytes.count - start) else { return nil }
                let valueEnd = start + Int(length)
                fields.append((name, String(decoding: bytes[start..<valueEnd], as: UTF8.self)))
                index = valueEnd + 1
            }
        }
        self.init(fields: fields)
    }

    /// `key` as a journal field name: upper case, other characters as `_`, at most 64 long.
    ///
    /// `webhook_id` becomes `WEBHOOK_ID`, `response-time.ms` becomes `RESPONSE_TIME_MS`; a key
    /// that would start with a digit or `_` gets an `X` in front.
    public static func fieldName(_ key: String) -> String {
        var name = String(
            key.unicodeScalars.map { scalar -> Character in
                switch scalar {
                case "a"..."z": Character(String(scalar).uppercased())
                case "A"..."Z", "0"..."9", "_": Character(scalar)
                default: "_"
                }
            }
        )
        if name.isEmpty || name.first == "_" || name.first!.isNumber { name = "X" + name }
        return String(name.prefix(64))
    }
}
