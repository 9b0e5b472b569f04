import Foundation
import WebhookCore

/// The JSON shapes storage keeps itself: a webhook's list of event names and its headers.
///
/// Shared by the stores, so every backend writes and reads the same text for these columns.
public enum JSONDecoderLite {
    /// Encodes names as a JSON array of strings.
    public static func encode(_ names: [String]) -> String {
        "[" + names.map(CanonicalJSON.quote).joined(separator: ",") + "]"
    }

    /// Encodes row ids as a JSON array of numbers, for `IN (SELECT value FROM json_each(?))`.
    public static func encode(_ ids: [Int64]) -> String {
        "[" + ids.map(String.init).joined(separator: ",") + "]"
    }

    /// Decodes a JSON array of strings.
    public static func stringArray(_ json: String) throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(json.utf8))
    }

    /// Encodes headers as a JSON array of `[name, value]` pairs.
    public static func encode(_ headers: CustomHeaders) -> String {
        "[" + headers.headers.map { encode([$0.name, $0.value]) }.joined(separator: ",") + "]"
    }

    /// Decodes headers stored by `encode(_:)`.
    public static func headers(_ json: String) throws -> CustomHeaders {
        let pairs = try JSONDecoder().decode([[String]].self, from: Data(json.utf8))
        return CustomHeaders(pairs.map { CustomHeaders.Header(name: $0.first ?? "", value: $0.last ?? "") })
    }
}
