import WebhookCore

/// A parsed JSON document that keeps what request handling needs: object members in order, each
/// member's raw bytes (so `data` reaches the outbox exactly as sent) and numbers as written.
public indirect enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// A number as written in the document.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([JSONMember])

    /// Parses strict RFC 8259 JSON (the checks of ``CanonicalJSON``: UTF-8, grammar, nesting depth).
    ///
    /// - Throws: ``CanonicalJSONError`` saying what is wrong and at which byte.
    public static func parse(_ bytes: [UInt8]) throws(CanonicalJSONError) -> JSONValue {
        _ = try CanonicalJSON.canonicalize(bytes)
        var parser = JSONValueParser(bytes: bytes)
        guard let value = parser.parseValue() else {
            throw CanonicalJSONError(message: "invalid JSON at byte \(parser.offset)", byteOffset: parser.offset)
        }
        return value
    }

    /// The JSON type's name for messages: `string`, `number`, `boolean`, `array`, `object` or `null`.
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// The JSON type's name with its article, for messages: `a string`, `an array`.
    public var kindWithArticle: String {
        (kindName == "array" || kindName == "object" ? "an " : "a ") + kindName
    }

    /// The value of member `key` when this is an object (the last one when repeated).
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    /// The string, when this is one.
    public var stringValue: String? {
        if case .string(let string) = self { return string }
        return nil
    }

    /// The elements, when this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }
}

/// One member of a JSON object, with the byte range of its value in the parsed document.
///
/// Two members are equal when their keys and values are: where they were written does not count.
public struct JSONMember: Sendable, Hashable {
    public let key: String
    public let value: JSONValue
    /// Where the value's text is in the parsed bytes.
    public let valueRange: Range<Int>

    public static func == (lhs: JSONMember, rhs: JSONMember) -> Bool {
        lhs.key == rhs.key && lhs.value == rhs.value
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(key)
        hasher.combine(value)
    }
}
