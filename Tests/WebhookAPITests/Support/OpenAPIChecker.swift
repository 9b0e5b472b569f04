import Foundation
import WebhookAPI

/// Checks real answers against openapi/openapi.json: the status must be documented for the
/// operation, and a JSON body must fit the documented schema.
///
/// It understands the JSON Schema keywords the document uses and reports any other keyword as a
/// problem, so a schema can never be skipped silently.
struct OpenAPIChecker: Sendable {
    static let shared = OpenAPIChecker()

    let document: JSONValue

    init() {
        let text =
            (try? String(contentsOf: repositoryRoot.appendingPathComponent("openapi/openapi.json"), encoding: .utf8))
            ?? ""
        document = (try? JSONValue.parse(Array(text.utf8))) ?? .null
    }

    /// A reference to the error shape, for answers to requests no operation matches.
    static let errorSchema: JSONValue =
        (try? JSONValue.parse(Array(##"{"$ref":"#/components/schemas/Error"}"##.utf8))) ?? .null

    static let knownKeywords: Set<String> = [
        "$ref", "type", "properties", "required", "additionalProperties", "items", "enum", "pattern", "format",
        "minimum", "maximum", "minLength", "maxLength", "minItems", "minProperties", "description", "examples",
        "default", "title",
    ]

    /// Problems of one answer (empty when it matches the document).
    func check(method: String, path: String, status: Int, body: JSONValue?) -> [String] {
        let requestPath = String(path.split(separator: "?", maxSplits: 1).first ?? "")
        guard let route = APIRoute.all.first(where: { $0.method.rawValue == method && $0.matches(path: requestPath) })
        else {
            // No such operation: the answer must be a 401 (under /v1), 404 or 405 in the error shape.
            guard [401, 404, 405].contains(status) else { return ["an unrouted request answered \(status)"] }
            return validate(body ?? .null, against: Self.errorSchema, at: "body")
        }
        guard let operation = document["paths"]?[route.path]?[method.lowercased()] else {
            return ["the document has no \(method) \(route.path)"]
        }
        guard let response = operation["responses"]?[String(status)] else {
            return ["status \(status) is not documented for \(route.operationID)"]
        }
        guard let schema = response["content"]?["application/json"]?["schema"] else { return [] }
        guard let body else { return ["the body is not JSON"] }
        return validate(body, against: schema, at: "body")
    }

    /// Problems of `value` against `schema`, each naming where in the value it is.
    func validate(_ value: JSONValue, against schema: JSONValue, at location: String) -> [String] {
        guard case .object(let members) = schema else { return ["\(location): the schema is not an object"] }
        var problems: [String] = []
        for member in members where !Self.knownKeywords.contains(member.key) {
            problems.append("\(location): the checker does not know the keyword \(member.key)")
        }
        if let reference = schema["$ref"]?.stringValue {
            let name = reference.replacingOccurrences(of: "#/components/schemas/", with: "")
            guard let target = document["components"]?["schemas"]?[name] else {
                return ["\(location): no schema \(reference)"]
            }
            return problems + validate(value, against: target, at: location)
        }
        if let type = schema["type"] {
            let allowed = type.arrayValue?.compactMap(\.stringValue) ?? [type.stringValue ?? ""]
            guard allowed.contains(where: { Self.has(value, type: $0) }) else {
                return problems + [
                    "\(location): \(value.kindName) where \(allowed.joined(separator: " or ")) is documented"
                ]
            }
        }
        if let options = schema["enum"]?.arrayValue, !options.contains(value) {
            problems.append("\(location): \(value) is not one of the documented values")
        }
        switch value {
        case .string(let string):
            if let pattern = schema["pattern"]?.stringValue {
                if let regex = try? Regex(pattern) {
                    if string.firstMatch(of: regex) == nil {
                        problems.append("\(location): \"\(string)\" does not match \(pattern)")
                    }
                } else {
                    problems.append("\(location): the pattern \(pattern) does not compile")
                }
            }
            if let minimum = schema["minLength"].flatMap(Self.integer), string.unicodeScalars.count < minimum {
                problems.append("\(location): shorter than \(minimum)")
            }
            if let maximum = schema["maxLength"].flatMap(Self.integer), string.unicodeScalars.count > maximum {
                problems.append("\(location): longer than \(maximum)")
            }
        case .number(let text):
            let number = Double(text) ?? .nan
            if let minimum = schema["minimum"].flatMap(Self.integer), number < Double(minimum) {
                problems.append("\(location): \(text) is below \(minimum)")
            }
            if let maximum = schema["maximum"].flatMap(Self.integer), number > Double(maximum) {
                problems.append("\(location): \(text) is above \(maximum)")
            }
        case .array(let elements):
            if let minimum = schema["minItems"].flatMap(Self.integer), elements.count < minimum {
                problems.append("\(location): fewer than \(minimum) items")
            }
            if let items = schema["items"] {
                for (index, element) in elements.enumerated() {
                    problems += validate(element, against: items, at: "\(location)[\(index)]")
                }
            }
        case .object(let fields):
            for name in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
            where !fields.contains(where: { $0.key == name }) {
                problems.append("\(location): the required property \(name) is missing")
            }
            if let minimum = schema["minProperties"].flatMap(Self.integer), fields.count < minimum {
                problems.append("\(location): fewer than \(minimum) properties")
            }
            let properties = schema["properties"]
            for field in fields {
                if let propertySchema = properties?[field.key] {
                    problems += validate(field.value, against: propertySchema, at: "\(location).\(field.key)")
                } else if schema["additionalProperties"] == .bool(false) {
                    problems.append("\(location): the property \(field.key) is not documented")
                }
            }
        case .null, .bool:
            break
        }
        return problems
    }

    private static func has(_ value: JSONValue, type: String) -> Bool {
        switch (value, type) {
        case (.null, "null"), (.bool, "boolean"), (.string, "string"), (.array, "array"), (.object, "object"),
            (.number, "number"):
            return true
        case (.number(let text), "integer"):
            return !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })
        default:
            return false
        }
    }

    private static func integer(_ value: JSONValue) -> Int? {
        if case .number(let text) = value { return Int(text) }
        return nil
    }
}
