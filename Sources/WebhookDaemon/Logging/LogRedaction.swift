import Logging

/// Keeps secrets out of logs: a metadata value whose key names a secret is written as `[redacted]`.
///
/// The daemon never puts a webhook's secret in its metadata; this is the guard against a future
/// log line that would, applied by every handler.
enum LogRedaction {
    /// Parts of a key that mark its value as secret.
    static let secretKeyParts = ["secret", "password", "authorization", "signature"]

    /// The text to write for the metadata value `value` under `key`.
    static func value(of key: String, _ value: Logger.MetadataValue) -> String {
        let lowered = key.lowercased()
        if secretKeyParts.contains(where: { lowered.contains($0) }) { return "[redacted]" }
        return value.description
    }
}
