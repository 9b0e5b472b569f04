/// Which addresses webhooks may be delivered to: the guard against requests into private networks (SSRF).
///
/// By default only public unicast addresses are allowed. Operators can open chosen blocks
/// (a lab network, loopback for tests); an explicitly allowed block wins over the block list.
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::/48`)
/// IPv6 addresses are judged by the IPv4 address they carry.
public struct AddressPolicy: Sendable, Hashable {
    /// Blocks allowed even though they are on the block list.
    public var allowed: [CIDR]

    /// Public addresses only: everything in `blockedByDefault` is refused.
    public static let publicOnly = AddressPolicy(allowing: [])

    /// Every address, private and loopback included (for development machines only).
    public static let unrestricted = AddressPolicy(allowing: [
        AddressPolicy.block("0.0.0.0/0"), AddressPolicy.block("::/0"),
    ])

    /// A policy that refuses the default block list except the given blocks.
    public init(allowing allowed: [CIDR]) {
        self.allowed = allowed
    }

    /// Parses comma- or space-separated CIDR texts, as an operator writes them in configuration.
    public init(allowingList text: String) throws(CIDR.ParseError) {
        var blocks: [CIDR] = []
        for item in text.split(whereSeparator: { $0 == "," || $0 == " " }) {
            blocks.append(try CIDR(item))
        }
        self.init(allowing: blocks)
    }

    /// True when a connection to `address` may be made.
    public func allows(_ address: IPAddress) -> Bool {
        if allowed.contains(where: { $0.contains(address) }) { return true }
        if let carried = address.embeddedIPv4 ?? address.sixToFourIPv4 { return allows(carried) }
        return !AddressPolicy.blockedByDefault.contains(where: { $0.contains(address) })
    }

    /// The blocks refused unless allowed: this-network, private, shared (CGNAT), loopback,
    /// link-local (cloud metadata at 169.254.169.254), documentation, benchmarking, multicast,
    /// reserved and broadcast ranges, and their IPv6 counterparts (unique-local, link-local,
    /// deprecated site-local, multicast, documentation, NAT64, discard-only).
    public static let blockedByDefault: [CIDR] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
        "::/128", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001:db8::/32",
        "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    ].map(block)

    private static func block(_ text: String) -> CIDR {
        do {
            return try CIDR(text)
        } catch {
            preconditionFailure("built-in address block \(text) does not parse: \(error)")
        }
    }
}

extension IPAddress {
    /// The IPv4 address inside a 6to4 address (`2002:aabb:ccdd::/48` carries `170.187.204.221`).
    var sixToFourIPv4: IPAddress? {
        guard case .v6(let high, _) = self, high >> 48 == 0x2002 else { return nil }
        return .v4(UInt32(truncatingIfNeeded: high >> 16))
    }
}
