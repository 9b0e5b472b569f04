import CQR3OpenSSL

/// The `X-QR3-Signature` header: HMAC-SHA256 of the request body under the webhook's secret.
///
/// The secret is used as its UTF-8 bytes, as Node's `crypto.createHmac` and Python's `secret.encode()` do.
public enum WebhookSignature {
    /// The header's name.
    public static let headerName = "X-QR3-Signature"
    /// What the header value starts with, before the lower-case hex digest.
    public static let prefix = "sha256="

    /// The `X-QR3-Signature` header value for `body` under `secret`: `sha256=` and the lower-case hex HMAC-SHA256.
    public static func header(body: some Collection<UInt8>, secret: String) -> String {
        var value = Array(prefix.utf8)
        value.reserveCapacity(prefix.utf8.count + 64)
        for byte in digest(body: body, secret: secret) {
            value.append(hexDigits[Int(byte >> 4)])
            value.append(hexDigits[Int(byte & 0xF)])
        }
        return String(decoding: value, as: UTF8.self)
    }

    /// Checks a header value in constant time: `sha256=` and 64 hex digits that match the body's HMAC.
    public static func verify(header: String, body: some Collection<UInt8>, secret: String) -> Bool {
        let text = Array(header.utf8)
        let prefixBytes = Array(prefix.utf8)
        guard text.count == prefixBytes.count + 64, text.starts(with: prefixBytes) else { return false }
        var received = [UInt8](repeating: 0, count: 32)
        for index in 0..<32 {
            guard let high = hexValue(text[prefixBytes.count + 2 * index]),
                let low = hexValue(text[prefixBytes.count + 2 * index + 1])
            else { return false }
            received[index] = high << 4 | low
        }
        let expected = digest(body: body, secret: secret)
        return CRYPTO_memcmp(expected, received, 32) == 0
    }

    /// The raw 32-byte HMAC-SHA256 of `body` under the UTF-8 bytes of `secret`.
    static func digest(body: some Collection<UInt8>, secret: String) -> [UInt8] {
        let contiguous = body.withContiguousStorageIfAvailable { hmac(body: $0, secret: secret) }
        return contiguous ?? Array(body).withUnsafeBufferPointer { hmac(body: $0, secret: secret) }
    }

    private static func hmac(body: UnsafeBufferPointer<UInt8>, secret: String) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: 32)
        var secret = secret
        let ok = secret.withUTF8 { key in
            result.withUnsafeMutableBufferPointer { out in
                cqr3_hmac_sha256_parts(
                    key.baseAddress, key.count, nil, 0, body.baseAddress, body.count, out.baseAddress)
            }
        }
        precondition(ok == 1, "HMAC-SHA256 failed in libcrypto")
        return result
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
