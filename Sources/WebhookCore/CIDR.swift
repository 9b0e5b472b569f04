/// A block of addresses written as `address/prefix-length`, like `10.0.0.0/8` or `fe80::/10`.
public struct CIDR: Sendable, Hashable {
    /// The first address of the block (all bits after the prefix are zero).
    public let address: IPAddress
    /// How many leading bits every address in the block shares: 0...32 for IPv4, 0...128 for IPv6.
    public let prefixLength: Int

    /// Why a CIDR text was refused, phrased for the operator who wrote it.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        /// What was wrong and how to write it instead.
        public let description: String
    }

    /// Parses `address/length`; a bare address means that one address (`/32` or `/128`).
    ///
    /// Bits set after the prefix are refused rather than silently dropped, so `10.1.2.3/8`
    /// is an error that suggests `10.0.0.0/8`.
    public init(_ text: some StringProtocol) throws(ParseError) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else {
            throw ParseError(
                description: "'\(text)' is not an address block: '\(parts[0])' is not an IPv4 or IPv6 address"
                    + " (write it like 10.0.0.0/8 or fd00::/8)")
        }
        let maximum = address.bitCount
        var length = maximum
        if parts.count == 2 {
            guard parts[1].utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                let parsed = Int(parts[1]), (0...maximum).contains(parsed)
            else {
                throw ParseError(
                    description:
                        "'\(text)' has an invalid prefix length '\(parts[1])': use a number from 0 to \(maximum)")
            }
            length = parsed
        }
        let masked = address.masked(toPrefix: length)
        guard masked == address else {
            throw ParseError(
                description: "'\(text)' has bits set after the /\(length) prefix: did you mean \(masked)/\(length)?")
        }
        self.address = address
        self.prefixLength = length
    }

    /// True when `candidate` is of the same family and shares this block's prefix.
    public func contains(_ candidate: IPAddress) -> Bool {
        candidate.bitCount == address.bitCount && candidate.masked(toPrefix: prefixLength) == address
    }
}

extension CIDR: CustomStringConvertible {
    /// The block as `address/length`.
    public var description: String { "\(address)/\(prefixLength)" }
}

extension IPAddress {
    /// 32 for IPv4, 128 for IPv6.
    var bitCount: Int {
        switch self {
        case .v4: 32
        case .v6: 128
        }
    }

    /// This address with every bit after the first `prefix` bits cleared.
    func masked(toPrefix prefix: Int) -> IPAddress {
        switch self {
        case .v4(let value):
            return .v4(prefix == 0 ? 0 : value & ~UInt32(0) << (32 - prefix))
        case .v6(let high, let low):
            let highMask: UInt64 = prefix >= 64 ? ~0 : prefix == 0 ? 0 : ~UInt64(0) << (64 - prefix)
            let lowMask: UInt64 = prefix <= 64 ? 0 : prefix == 128 ? ~0 : ~UInt64(0) << (128 - prefix)
            return .v6(high: high & highMask, low: low & lowMask)
        }
    }
}
