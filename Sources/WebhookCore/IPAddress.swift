/// An IPv4 or IPv6 address as a value, parsed and printed without any system call.
public enum IPAddress: Sendable, Hashable {
    /// An IPv4 address; the first octet is the most significant byte.
    case v4(UInt32)
    /// An IPv6 address as two 64-bit halves; the first octet is the most significant byte of `high`.
    case v6(high: UInt64, low: UInt64)

    /// Parses `192.0.2.1` (exactly four decimal octets) or any RFC 4291 IPv6 text form
    /// (`::1`, `2001:db8::8:800:200c:417a`, `::ffff:192.0.2.1`); a zone (`%eth0`) is not accepted.
    public init?(_ text: some StringProtocol) {
        let bytes = Array(text.utf8)
        if let v4 = IPAddress.parseIPv4(bytes[...]) {
            self = .v4(v4)
        } else if let (high, low) = IPAddress.parseIPv6(bytes) {
            self = .v6(high: high, low: low)
        } else {
            return nil
        }
    }

    /// An IPv4 address from its four octets in network order.
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        self = .v4(UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d))
    }

    /// An IPv6 address from its sixteen octets in network order (as in `in6_addr`).
    public init(ipv6Octets octets: some Collection<UInt8>) {
        precondition(octets.count == 16, "an IPv6 address has 16 octets")
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (index, octet) in octets.enumerated() {
            if index < 8 {
                high = high << 8 | UInt64(octet)
            } else {
                low = low << 8 | UInt64(octet)
            }
        }
        self = .v6(high: high, low: low)
    }

    /// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`) or IPv4-compatible (`::a.b.c.d`) IPv6 address.
    public var embeddedIPv4: IPAddress? {
        guard case .v6(let high, let low) = self, high == 0 else { return nil }
        let prefix = low >> 32
        guard prefix == 0xffff || prefix == 0 else { return nil }
        return .v4(UInt32(truncatingIfNeeded: low))
    }
}

extension IPAddress: CustomStringConvertible {
    /// Dotted-quad for IPv4; RFC 5952 canonical text for IPv6 (`::ffff:a.b.c.d` for mapped addresses).
    public var description: String {
        switch self {
        case .v4(let value):
            return IPAddress.dottedQuad(value)
        case .v6(let high, let low):
            if high == 0, low >> 32 == 0xffff {
                return "::ffff:" + IPAddress.dottedQuad(UInt32(truncatingIfNeeded: low))
            }
            let groups = (0..<8).map { index -> UInt16 in
                let half = index < 4 ? high : low
                return UInt16(truncatingIfNeeded: half >> (UInt64(3 - index % 4) * 16))
            }
            return IPAddress.compressedIPv6(groups)
        }
    }

    private static func dottedQuad(_ value: UInt32) -> String {
        "\(value >> 24).\(value >> 16 & 0xff).\(value >> 8 & 0xff).\(value & 0xff)"
    }

    /// Hex groups with the longest run (two or more) of zero groups shortened to `::`.
    private static func compressedIPv6(_ groups: [UInt16]) -> String {
        var bestStart = -1
        var bestLength = 1
        var index = 0
        while index < groups.count {
            guard groups[index] == 0 else {
                index += 1
                continue
            }
            let start = index
            while index < groups.count, groups[index] == 0 { index += 1 }
            if index - start > bestLength {
                bestStart = start
                bestLength = index - start
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard bestStart >= 0 else { return hex.joined(separator: ":") }
        let head = hex[..<bestStart].joined(separator: ":")
        let tail = hex[(bestStart + bestLength)...].joined(separator: ":")
        return head + "::" + tail
    }
}

extension IPAddress {
    private static let dot = UInt8(ascii: ".")
    private static let colon = UInt8(ascii: ":")

    /// Four decimal octets 0...255 separated by dots; leading zeros are refused (they read as octal elsewhere).
    static func parseIPv4(_ bytes: ArraySlice<UInt8>) -> UInt32? {
        let parts = bytes.split(separator: dot, omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy(isDecimalDigit) else { return nil }
            if part.count > 1, part.first == UInt8(ascii: "0") { return nil }
            let octet = part.reduce(0) { $0 * 10 + UInt32($1 - UInt8(ascii: "0")) }
            guard octet <= 255 else { return nil }
            value = value << 8 | octet
        }
        return value
    }

    private static func parseIPv6(_ bytes: [UInt8]) -> (UInt64, UInt64)? {
        guard bytes.count >= 2 else { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawDoubleColon = false
        var index = 0
        if bytes.starts(with: [colon, colon]) {
            sawDoubleColon = true
            index = 2
        } else if bytes[0] == colon {
            return nil
        }
        while index < bytes.count {
            var end = index
            while end < bytes.count, bytes[end] != colon { end += 1 }
            let piece = bytes[index..<end]
            if end == bytes.count, piece.contains(dot) {
                guard let v4 = parseIPv4(piece) else { return nil }
                let pair = [UInt16(v4 >> 16), UInt16(v4 & 0xffff)]
                if sawDoubleColon { tail += pair } else { head += pair }
                index = end
                break
            }
            guard (1...4).contains(piece.count), let group = UInt16(hex: piece) else { return nil }
            if sawDoubleColon { tail.append(group) } else { head.append(group) }
            if end == bytes.count {
                index = end
                break
            }
            if end + 1 < bytes.count, bytes[end + 1] == colon {
                guard !sawDoubleColon else { return nil }
                sawDoubleColon = true
                index = end + 2
            } else {
                guard end + 1 < bytes.count else { return nil }
                index = end + 1
            }
        }
        let count = head.count + tail.count
        if sawDoubleColon {
            guard count <= 7 else { return nil }
        } else {
            guard count == 8 else { return nil }
        }
        let groups = head + Array(repeating: 0, count: 8 - count) + tail
        let high = groups[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        let low = groups[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        return (high, low)
    }

    private static func isDecimalDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}

extension UInt16 {
    fileprivate init?(hex digits: ArraySlice<UInt8>) {
        var value: UInt16 = 0
        for digit in digits {
            let nibble: UInt8
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = digit - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt16(nibble)
        }
        self = value
    }
}
