import HTTPTypes
import Hummingbird
import NIOCore
import WebhookCore

/// The JSON object a request sent, with typed reads that turn every mistake into a clear ``APIError``.
struct RequestObject {
    /// The body as received.
    let bytes: [UInt8]
    let members: [JSONMember]

    /// Reads at most `limit` bytes of body and parses them as one JSON object.
    ///
    /// - Throws: 413 `body_too_large` past the limit, 400 `invalid_json` for anything that is not
    ///   JSON, 422 `invalid_type` for JSON that is not an object.
    static func read(_ request: Request, limit: Int) async throws -> RequestObject {
        let tooLarge = APIError(
            .contentTooLarge,
            code: "body_too_large",
            message: "the request body is larger than \(limit) bytes"
        )
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { throw tooLarge }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
        let bytes = Array(buffer.readableBytesView)
        guard bytes.contains(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) else {
            throw APIError(.badRequest, code: "invalid_json", message: "the request body is empty: send a JSON object")
        }
        let value: JSONValue
        do throws(CanonicalJSONError) {
            value = try JSONValue.parse(bytes)
        } catch {
            throw APIError(
                .badRequest, code: "invalid_json", message: "the request body is not valid JSON: \(error.message)")
        }
        guard case .object(let members) = value else {
            throw APIError(
                .unprocessableContent,
                code: "invalid_type",
                message: "the request body must be a JSON object, not \(value.kindWithArticle)"
            )
        }
        return RequestObject(bytes: bytes, members: members)
    }

    /// ``read(_:limit:)`` for a call whose fields are all optional: an empty body reads as `{}`.
    static func readOptional(_ request: Request, limit: Int) async throws -> RequestObject {
        if request.headers[.contentLength] == "0" { return RequestObject(bytes: [], members: []) }
        // A body of whitespace sent with its length is not JSON (400); only a body with no length
        // (chunked) that turns out empty reads as `{}` too.
        guard request.headers[.contentLength] == nil else { return try await read(request, limit: limit) }
        do {
            return try await read(request, limit: limit)
        } catch let error as APIError where error.code == "invalid_json" && error.message.contains("empty") {
            return RequestObject(bytes: [], members: [])
        }
    }

    /// Refuses members other than `allowed`, and any member given twice.
    func allowOnly(_ allowed: [String]) throws(APIError) {
        var seen = Set<String>()
        for member in members {
            guard allowed.contains(member.key) else {
                throw APIError(
                    .unprocessableContent,
                    code: "unknown_field",
                    message:
                        "unknown field \"\(member.key.prefix(64))\"; the fields are \(allowed.joined(separator: ", "))",
                    field: String(member.key.prefix(64))
                )
            }
            guard seen.insert(member.key).inserted else {
                throw APIError.invalidValue(member.key, "\(member.key) is given twice")
            }
        }
    }

    /// The member called `key`, if present.
    func member(_ key: String) -> JSONMember? {
        members.first { $0.key == key }
    }

    /// Whether the object has a member called `key`.
    func has(_ key: String) -> Bool { member(key) != nil }

    /// Throws 422 `missing_field` unless `key` is present.
    func require(_ key: String, _ hint: String) throws(APIError) {
        guard has(key) else {
            throw APIError(
                .unprocessableContent, code: "missing_field", message: "\(key) is required: \(hint)", field: key)
        }
    }

    /// The string member `key`, nil when absent.
    func string(_ key: String) throws(APIError) -> String? {
        guard let member = member(key) else { return nil }
        guard case .string(let string) = member.value else {
            throw APIError.invalidType(key, expected: "a string", got: member.value)
        }
        return string
    }

    /// The boolean member `key`, nil when absent.
    func bool(_ key: String) throws(APIError) -> Bool? {
        guard let member = member(key) else { return nil }
        guard case .bool(let flag) = member.value else {
            throw APIError.invalidType(key, expected: "true or false", got: member.value)
        }
        return flag
    }

    /// The array-of-strings member `key`, nil when absent.
    func strings(_ key: String) throws(APIError) -> [String]? {
        guard let member = member(key) else { return nil }
        guard case .array(let elements) = member.value else {
            throw APIError.invalidType(key, expected: "an array of strings", got: member.value)
        }
        var strings: [String] = []
        for (index, element) in elements.enumerated() {
            guard case .string(let string) = element else {
                throw APIError(
                    .unprocessableContent,
                    code: "invalid_type",
                    message: "\(key)[\(index)] must be a string, not a \(element.kindName)",
                    field: key
                )
            }
            strings.append(string)
        }
        return strings
    }

    /// The object-of-strings member `key` as name and value pairs in the order sent; nil when absent.
    func stringPairs(_ key: String) throws(APIError) -> [(name: String, value: String)]? {
        guard let member = member(key) else { return nil }
        guard case .object(let members) = member.value else {
            throw APIError.invalidType(key, expected: "a JSON object of strings", got: member.value)
        }
        var pairs: [(name: String, value: String)] = []
        for entry in members {
            guard case .string(let value) = entry.value else {
                throw APIError(
                    .unprocessableContent,
                    code: "invalid_type",
                    message: "\(key).\(entry.key.prefix(64)) must be a string, not \(entry.value.kindWithArticle)",
                    field: key
                )
            }
            pairs.append((entry.key, value))
        }
        return pairs
    }

    /// The whole-number member `key`, nil when absent.
    func integer(_ key: String) throws(APIError) -> Int? {
        guard let member = member(key) else { return nil }
        guard case .number(let text) = member.value, let number = Int(text) else {
            throw APIError.invalidType(key, expected: "a whole number", got: member.value)
        }
        return number
    }

    /// The raw bytes of the object member `key`, exactly as sent; nil when absent.
    func objectBytes(_ key: String) throws(APIError) -> [UInt8]? {
        guard let member = member(key) else { return nil }
        guard case .object = member.value else {
            throw APIError.invalidType(key, expected: "a JSON object", got: member.value)
        }
        return Array(bytes[member.valueRange])
    }
}
