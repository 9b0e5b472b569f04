import CQR3OpenSSL

/// The Standard Webhooks headers (https://www.standardwebhooks.com): `webhook-id`,
/// `webhook-timestamp` and `webhook-signature`, which the `standardwebhooks` and `svix` libraries
/// verify.
///
/// The signature is `v1,` and the base64 HMAC-SHA256 of `"<id>.<timestamp>.<body>"`; with more
/// than one valid secret (during a rotation's overlap) one such signature per secret, separated
/// by spaces. A receiver accepts the request when any of them matches, and rejects timestamps
/// more than 5 minutes from its clock, so a captured request cannot be replayed later.
public enum StandardWebhookSignature {
    /// The event id, the same on every attempt.
    public static let idHeader = "webhook-id"
    /// Unix seconds of the attempt.
    public static let timestampHeader = "webhook-timestamp"
    /// `v1,<base64>`, space-separated when several secrets are valid.
    public static let signatureHeader = "webhook-signature"

    /// The HMAC key of a secret: its UTF-8 bytes, or for `whsec_<base64>` the decoded bytes
    /// (what the Standard Webhooks libraries make of such a string).
    public struct Key: Sendable, Hashable {
        public let bytes: [UInt8]

        public init(secret: String) {
            if secret.hasPrefix(Self.prefix), let decoded = Base64.decode(secret.dropFirst(Self.prefix.count)),
                !decoded.isEmpty
            {
                bytes = decoded
            } else {
                bytes = Array(secret.utf8)
            }
        }

        /// The prefix of a secret given as base64 key bytes.
        public static let prefix = "whsec_"
    }

    /// The `webhook-signature` value for an attempt at `timestamp` (Unix seconds) of event `id`.
    ///
    /// One `v1,` signature per key, in the order given, space-separated.
    public static func header(id: String, timestamp: Int64, body: [UInt8], keys: [Key]) -> String {
        var head = Array(id.utf8)
        head.append(UInt8(ascii: "."))
        head.append(contentsOf: String(timestamp).utf8)
        head.append(UInt8(ascii: "."))
        var value: [UInt8] = []
        value.reserveCapacity(keys.count * 48)
        var digest = [UInt8](repeating: 0, count: 32)
        for (index, key) in keys.enumerated() {
            if index > 0 { value.append(UInt8(ascii: " ")) }
            value.append(contentsOf: "v1,".utf8)
            hmac(key: key.bytes, head: head, body: body, into: &digest)
            Base64.encode(digest, into: &value)
        }
        return String(decoding: value, as: UTF8.self)
    }

    /// Whether one of the space-separated signatures in `header` matches the body under `key`
    /// (the timestamp's age is the receiver's to judge, not checked here).
    public static func verify(header: String, id: String, timestamp: Int64, body: [UInt8], key: Key) -> Bool {
        let expected = Array(self.header(id: id, timestamp: timestamp, body: body, keys: [key]).utf8)
        return header.split(separator: " ").contains { candidate in
            let given = Array(candidate.utf8)
            return given.count == expected.count && CRYPTO_memcmp(given, expected, given.count) == 0
        }
    }

    /// HMAC-SHA256 of `head` then `body`, without joining them (see `cqr3_hmac_sha256_parts`).
    private static func hmac(key: [UInt8], head: [UInt8], body: [UInt8], into digest: inout [UInt8]) {
        let ok = key.withUnsafeBufferPointer { key in
            head.withUnsafeBufferPointer { head in
                body.withUnsafeBufferPointer { body in
                    digest.withUnsafeMutableBufferPointer { out in
                        cqr3_hmac_sha256_parts(
                            key.baseAddress, key.count, head.baseAddress, head.count, body.baseAddress, body.count,
                            out.baseAddress)
                    }
                }
            }
        }
        precondition(ok == 1, "HMAC-SHA256 failed in libcrypto")
    }
}
