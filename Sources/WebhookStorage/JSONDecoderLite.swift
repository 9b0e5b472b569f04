import Foundation
import WebhookCore

/// The one JSON shape storage keeps itself: a webhook's list of event names.
enum JSONDecoderLite {
    /// Encodes names as a JSON array of strings.
    static func encode(_ names: [String]) -> String {
        "[" + names.map(CanonicalJSON.quote).joined(separator: ",") + "]"
    }

    /// Encodes row ids as a JSON array of numbers, for `IN (SELECT value FROM json_each(?))`.
    static func encode(_ ids: [Int64]) -> String {
        "[" + ids.map(String.init).joined(separator: ",") + "]"
    }

    /// Decodes a JSON array of strings.
    static func stringArray(_ json: String) throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(json.utf8))
    }
}
