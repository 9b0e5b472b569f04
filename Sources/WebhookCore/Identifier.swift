/// Public identifiers: a short type prefix and 20 random base-62 characters (~119 bits).
public enum Identifier {
    /// The prefix of a webhook id, as in `wh_abc123`.
    public static let webhook = "wh_"
    /// The prefix of an event id, as in `evt_abc123xyz`.
    public static let event = "evt_"
    /// The prefix of a delivery attempt id, as in `whd_abc123`.
    public static let delivery = "whd_"
    /// The prefix of a workspace API key.
    public static let apiKey = "qr3k_"
    /// The prefix of an API key's public id (the key itself is never shown again).
    public static let apiKeyID = "key_"

    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// A new random identifier with `prefix`.
    public static func make(_ prefix: String, length: Int = 20) -> String {
        var generator = PooledRandom()
        return make(prefix, length: length, using: &generator)
    }

    /// A new identifier whose first characters encode `time`, so ids sort (and index) by creation.
    ///
    /// Eight base-62 characters of milliseconds, then `length - 8` random characters.
    public static func makeOrdered(_ prefix: String, at time: Timestamp, length: Int = 20) -> String {
        var bytes = Array(prefix.utf8)
        appendTime(time, to: &bytes)
        var generator = PooledRandom()
        appendRandom(length - 8, to: &bytes, using: &generator)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The smallest identifier with `prefix` that ``makeOrdered(_:at:length:)`` can make at `time` or
    /// later: every ordered id made before `time` sorts below it, every one made at or after above.
    public static func orderedLowerBound(_ prefix: String, at time: Timestamp) -> String {
        var bytes = Array(prefix.utf8)
        appendTime(time, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// An identifier whose first characters encode `time` and whose rest comes from `digest`
    /// (at least 12 bytes, e.g. an HMAC): the same inputs always give the same id.
    public static func derived(_ prefix: String, at time: Timestamp, digest: [UInt8], length: Int = 20) -> String {
        precondition(digest.count >= length - 8, "a derived id needs a digest byte per character")
        var bytes = Array(prefix.utf8)
        appendTime(time, to: &bytes)
        // 62 does not divide 256: the first 248 byte values map evenly, the few above fold onto
        // the start of the alphabet. A slight bias in 12 of ~119 bits does not matter for an id.
        for byte in digest.prefix(length - 8) {
            bytes.append(alphabet[Int(byte) % alphabet.count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends eight base-62 characters of `time`'s milliseconds, most significant first, so ids
    /// with this prefix sort by time (the alphabet is in ASCII order).
    private static func appendTime(_ time: Timestamp, to bytes: inout [UInt8]) {
        var clock = UInt64(max(0, time.milliseconds))
        var encoded = [UInt8](repeating: alphabet[0], count: 8)
        for index in stride(from: 7, through: 0, by: -1) {
            encoded[index] = alphabet[Int(clock % 62)]
            clock /= 62
        }
        bytes.append(contentsOf: encoded)
    }

    /// A new identifier drawn from `generator`, for reproducible tests.
    public static func make(
        _ prefix: String,
        length: Int = 20,
        using generator: inout some RandomNumberGenerator
    ) -> String {
        var bytes = Array(prefix.utf8)
        bytes.reserveCapacity(bytes.count + length)
        appendRandom(length, to: &bytes, using: &generator)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// 62^10, the number of ten-digit base-62 strings; a 64-bit word below a multiple of it gives ten digits.
    private static let tenDigits: UInt64 = 839_299_365_868_340_224
    private static let unbiasedLimit: UInt64 = (UInt64.max / tenDigits) * tenDigits

    /// Appends `count` uniformly random base-62 characters, ten per 64-bit draw (one system call, not ten).
    private static func appendRandom(
        _ count: Int, to bytes: inout [UInt8], using generator: inout some RandomNumberGenerator
    ) {
        var remaining = count
        while remaining > 0 {
            var word = generator.next() as UInt64
            while word >= unbiasedLimit { word = generator.next() }
            word %= tenDigits
            for _ in 0..<min(10, remaining) {
                bytes.append(alphabet[Int(word % 62)])
                word /= 62
            }
            remaining -= 10
        }
    }
}
