/// Writes one compact JSON object with its keys in the order they are added.
///
/// Foundation's `JSONEncoder` does not promise any key order; the public API's documented shapes
/// (`{ "id", "url", "events", ... }`) do, so responses are written with this instead.
public struct JSONObjectWriter: Sendable {
    private var text = "{"

    public init() {}

    /// Adds `"key": "value"`, or `"key": null` when `value` is nil.
    public mutating func add(_ key: String, _ value: String?) {
        add(key, raw: value.map(CanonicalJSON.quote) ?? "null")
    }

    /// Adds `"key": 42`, or `"key": null` when `value` is nil.
    public mutating func add(_ key: String, _ value: Int?) {
        add(key, raw: value.map { String($0) } ?? "null")
    }

    /// Adds `"key": true` or `false`.
    public mutating func add(_ key: String, _ value: Bool) {
        add(key, raw: value ? "true" : "false")
    }

    /// Adds `"key": ["a","b"]`.
    public mutating func add(_ key: String, strings: [String]) {
        add(key, raw: Self.array(strings.map(CanonicalJSON.quote)))
    }

    /// Adds `"key":` followed by `json`, which must already be one valid JSON value.
    public mutating func add(_ key: String, raw json: String) {
        if text.utf8.count > 1 { text += "," }
        text += CanonicalJSON.quote(key) + ":" + json
    }

    /// The object written so far, closed.
    public var json: String { text + "}" }

    /// A JSON array of values that are already valid JSON.
    public static func array(_ elements: [String]) -> String {
        "[" + elements.joined(separator: ",") + "]"
    }
}
