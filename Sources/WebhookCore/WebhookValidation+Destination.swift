extension WebhookValidation {
    /// Refuses a URL whose host is literally a loopback, private or reserved address (or `localhost`)
    /// that `policy` does not allow, so a caller hears at once what delivery would refuse later.
    ///
    /// Host names are not resolved here: the delivery client checks every address a name resolves to
    /// when it connects. IPv4 literals count in every form a resolver accepts (`2130706433`,
    /// `0x7f.1`, `0177.0.0.1`), IPv6 literals with embedded IPv4 by the address they carry.
    public static func validateDestination(_ url: WebhookURL, policy: AddressPolicy) throws(Invalid) {
        var host = url.host
        if host.hasSuffix(".") { host.removeLast() }
        if host == "localhost" || host.hasSuffix(".localhost") {
            guard policy.allows(IPAddress(127, 0, 0, 1)) else { throw refused(url.host, as: "a loopback name") }
            return
        }
        guard let address = literalAddress(host) else {
            if host.contains(":") {
                throw Invalid(field: "url", message: "url host [\(host.prefix(64))] is not a valid IPv6 address")
            }
            return
        }
        guard policy.allows(address) else { throw refused(url.host, as: "a loopback, private or reserved address") }
    }

    /// The address `host` names literally: an IPv6 address, or an IPv4 address in any form `inet_aton`
    /// accepts (one to four parts, each decimal, octal with a leading `0`, or hex with `0x`); `nil`
    /// for a host name.
    public static func literalAddress(_ host: String) -> IPAddress? {
        if let address = IPAddress(host) { return address }
        let parts = host.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard (1...4).contains(parts.count) else { return nil }
        var values: [UInt64] = []
        for part in parts {
            guard let value = legacyNumber(part) else { return nil }
            values.append(value)
        }
        var address: UInt64 = 0
        for (index, value) in values.enumerated() {
            if index < values.count - 1 {
                guard value <= 255 else { return nil }
                address |= value << (8 * UInt64(3 - index))
            } else {
                let bits = UInt64(8 * (4 - index))
                guard value < (1 << bits) else { return nil }
                address |= value
            }
        }
        return .v4(UInt32(address))
    }

    /// One part of a legacy IPv4 text: decimal, `0`-prefixed octal or `0x`-prefixed hex, at most 32 bits.
    private static func legacyNumber(_ digits: Substring.UTF8View) -> UInt64? {
        var rest = digits[...]
        var radix: UInt64 = 10
        if rest.count >= 2, rest.first == UInt8(ascii: "0"),
            rest.dropFirst().first == UInt8(ascii: "x") || rest.dropFirst().first == UInt8(ascii: "X")
        {
            radix = 16
            rest = rest.dropFirst(2)
        } else if rest.count >= 2, rest.first == UInt8(ascii: "0") {
            radix = 8
            rest = rest.dropFirst()
        }
        guard !rest.isEmpty, rest.count <= 32 else { return nil }
        var value: UInt64 = 0
        for byte in rest {
            let digit: UInt64
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt64(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt64(byte - UInt8(ascii: "A") + 10)
            default: return nil
            }
            guard digit < radix else { return nil }
            value = value * radix + digit
            guard value <= UInt64(UInt32.max) else { return nil }
        }
        return value
    }

    private static func refused(_ host: String, as kind: String) -> Invalid {
        Invalid(
            field: "url",
            message: "url host \(host.prefix(64)) is \(kind); webhooks must point at a public address "
                + "(an operator can allow networks with the allow-networks setting)"
        )
    }
}
