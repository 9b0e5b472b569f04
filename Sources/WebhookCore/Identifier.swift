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
        var generator = SystemRandomNumberGenerator()
        return make(prefix, length: length, using: &generator)
    }

    /// A new identifier whose first characters encode `time`, so ids sort (and index) by creation.
    ///
    /// Eight base-62 characters of milliseconds, then `length - 8` random characters.
    public static func makeOrdered(_ prefix: String, at time: Timestamp, length: Int = 20) -> String {
        var bytes = Array(prefix.utf8)
        var clock = UInt64(max(0, time.milliseconds))
        var encoded = [UInt8](repeating: alphabet[0], count: 8)
        for index in stride(from: 7, through: 0, by: -1) {
            encoded[index] = alphabet[Int(clock % 62)]
            clock /= 62
        }
        bytes.append(contentsOf: encoded)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<(length - 8) {
            bytes.append(alphabet[Int(generator.next(upperBound: UInt8(alphabet.count)))])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A new identifier drawn from `generator`, for reproducible tests.
    public static func make(
        _ prefix: String,
        length: Int = 20,
        using generator: inout some RandomNumberGenerator
    ) -> String {
        var bytes = Array(prefix.utf8)
        bytes.reserveCapacity(bytes.count + length)
        for _ in 0..<length {
            bytes.append(alphabet[Int(generator.next(upperBound: UInt8(alphabet.count)))])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
