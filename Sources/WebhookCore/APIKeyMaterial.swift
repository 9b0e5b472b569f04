import CQR3OpenSSL

/// A workspace API key as issued once to its owner, and the hash under which it is stored.
///
/// A key is `qr3k_` and 40 random base-62 characters (about 238 bits). Because keys are random and
/// long, a plain SHA-256 is a safe way to store them: no slow password hash is needed. The
/// `prefix` (`qr3k_` and the first 8 random characters) is not secret: it names the key in listings
/// and revocations.
public struct APIKeyMaterial: Sendable, Hashable {
    /// The whole key, shown to its owner once and never stored.
    public let key: String
    /// The key's first characters, stored and shown to tell keys apart.
    public let prefix: String
    /// The lower-case hex SHA-256 of the key, the only form stored.
    public let hash: String

    /// How many random characters follow `qr3k_`.
    public static let randomLength = 40
    /// How many characters of a key its prefix keeps (`qr3k_` and 8 random ones).
    public static let prefixLength = Identifier.apiKey.count + 8

    /// A new random key.
    public static func generate() -> APIKeyMaterial {
        APIKeyMaterial(key: Identifier.make(Identifier.apiKey, length: randomLength))
    }

    /// The material of an existing key text (to look it up by its hash).
    public init(key: String) {
        self.key = key
        self.prefix = String(key.prefix(Self.prefixLength))
        self.hash = Self.hash(key)
    }

    /// Whether `text` has the shape of a key (the prefix and base-62 characters); cheap to check
    /// before touching the database.
    public static func looksLikeKey(_ text: some StringProtocol) -> Bool {
        text.hasPrefix(Identifier.apiKey) && text.utf8.count == Identifier.apiKey.utf8.count + randomLength
            && text.utf8.dropFirst(Identifier.apiKey.utf8.count).allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            }
    }

    /// The lower-case hex SHA-256 of the UTF-8 bytes of `key`.
    public static func hash(_ key: String) -> String {
        let bytes = Array(key.utf8) + [0]
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBufferPointer { input in
            EVP_Digest(input.baseAddress, input.count - 1, &digest, &length, EVP_sha256(), nil)
        }
        precondition(ok == 1 && length == 32, "SHA-256 from libcrypto failed")
        let hex = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for byte in digest.prefix(32) {
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
