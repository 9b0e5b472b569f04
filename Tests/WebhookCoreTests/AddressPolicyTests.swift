import Testing
import WebhookCore

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("192.0.2.1", "192.0.2.1"), ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"),
        ("::", "::"), ("::1", "::1"), ("2001:DB8::8:800:200C:417A", "2001:db8::8:800:200c:417a"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("fe80:0:0:0:0:0:0:1", "fe80::1"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"), ("::ffff:c000:0201", "::ffff:192.0.2.1"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"), ("1::", "1::"), ("1:0:0:2::3", "1:0:0:2::3"),
    ])
    func parsesAndPrintsCanonically(text: String, canonical: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.description == canonical)
        #expect(IPAddress(canonical) == address)
    }

    @Test(arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.-4", "1..2.3", "a.b.c.d", "2130706433",
        "0x7f.0.0.1", ":", ":::", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", ":1", "1:", "g::1",
        "::1.2.3", "1.2.3.4::", "fe80::1%eth0", " ::1", "1:2:3:4:5:6:7::8:9",
    ])
    func refusesMalformedText(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func embeddedIPv4() {
        #expect(IPAddress("::ffff:10.1.2.3")?.embeddedIPv4 == IPAddress(10, 1, 2, 3))
        #expect(IPAddress("::10.1.2.3")?.embeddedIPv4 == IPAddress(10, 1, 2, 3))
        #expect(IPAddress("2001:db8::1")?.embeddedIPv4 == nil)
        #expect(IPAddress(10, 1, 2, 3).embeddedIPv4 == nil)
    }
}

@Suite struct CIDRTests {
    @Test func parsesBlocksAndBareAddresses() throws {
        let block = try CIDR("10.0.0.0/8")
        #expect(block.prefixLength == 8)
        #expect(block.contains(IPAddress(10, 255, 0, 1)))
        #expect(!block.contains(IPAddress(11, 0, 0, 0)))
        #expect(!block.contains(try #require(IPAddress("::ffff:10.0.0.1"))))
        #expect(try CIDR("::1/128").contains(try #require(IPAddress("::1"))))
        #expect(try CIDR("192.0.2.7").prefixLength == 32)
        #expect(try CIDR("fe80::").prefixLength == 128)
        #expect(try CIDR("0.0.0.0/0").contains(IPAddress(8, 8, 8, 8)))
        #expect(try CIDR("::/0").contains(try #require(IPAddress("2606:4700::1111"))))
        #expect(try CIDR("fc00::/7").contains(try #require(IPAddress("fdff:ffff::1"))))
        #expect(try CIDR("2001:db8::/33").description == "2001:db8::/33")
    }

    @Test(arguments: [
        ("10.0.0.0/33", "prefix length"), ("::/129", "prefix length"), ("10.0.0.0/", "prefix length"),
        ("10.0.0.0/-1", "prefix length"), ("10.0.0.0/+8", "prefix length"), ("10.0.0.0/8/8", "prefix length"),
        ("10.1.2.3/8", "did you mean 10.0.0.0/8"), ("fe80::1/10", "did you mean fe80::/10"),
        ("example.com/8", "not an IPv4 or IPv6 address"), ("", "not an IPv4 or IPv6 address"),
    ])
    func explainsWhatIsWrong(text: String, hint: String) {
        do {
            _ = try CIDR(text)
            Issue.record("'\(text)' should not parse")
        } catch {
            #expect(error.description.contains(hint), "\(error.description)")
        }
    }
}

@Suite struct AddressPolicyTests {
    @Test(arguments: [
        "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.255", "127.0.0.1",
        "127.255.255.254", "169.254.169.254", "169.254.0.1", "172.16.0.1", "172.31.255.255", "192.0.0.8",
        "192.0.2.1", "192.168.1.1", "198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9",
        "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "::", "::1", "fc00::1", "fd12:3456::1",
        "fe80::1", "febf::1", "fec0::1", "ff02::1", "2001:db8::1", "64:ff9b::a00:1", "64:ff9b::8.8.8.8",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1", "::10.0.0.1",
        "2002:7f00:1::1", "2002:a9fe:a9fe::", "2002:c0a8:0101::1",
    ])
    func blocksNonPublicAddressesByDefault(text: String) throws {
        #expect(!AddressPolicy.publicOnly.allows(try #require(IPAddress(text))))
    }

    @Test(arguments: [
        "8.8.8.8", "1.1.1.1", "93.184.216.34", "100.63.255.255", "100.128.0.0", "172.15.255.255", "172.32.0.0",
        "192.0.1.255", "192.169.0.1", "198.17.255.255", "198.20.0.0", "223.255.255.255", "2606:4700::1111",
        "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8", "2002:808:808::1", "2001:db9::1",
    ])
    func allowsPublicAddresses(text: String) throws {
        #expect(AddressPolicy.publicOnly.allows(try #require(IPAddress(text))))
    }

    @Test func explicitlyAllowedBlocksWin() throws {
        let policy = AddressPolicy(allowing: [try CIDR("127.0.0.0/8"), try CIDR("fd00::/8")])
        #expect(policy.allows(IPAddress(127, 0, 0, 1)))
        #expect(policy.allows(try #require(IPAddress("::ffff:127.0.0.1"))))
        #expect(policy.allows(try #require(IPAddress("fd00::5"))))
        #expect(!policy.allows(try #require(IPAddress("::1"))))
        #expect(!policy.allows(IPAddress(10, 0, 0, 1)))
        #expect(policy.allows(IPAddress(8, 8, 8, 8)))
    }

    @Test func unrestrictedAllowsEverything() throws {
        #expect(AddressPolicy.unrestricted.allows(IPAddress(127, 0, 0, 1)))
        #expect(AddressPolicy.unrestricted.allows(try #require(IPAddress("::1"))))
        #expect(AddressPolicy.unrestricted.allows(IPAddress(169, 254, 169, 254)))
    }

    @Test func parsesAnOperatorsList() throws {
        let policy = try AddressPolicy(allowingList: "10.0.0.0/8, 192.168.1.0/24 ::1")
        #expect(policy.allowed.map(\.description) == ["10.0.0.0/8", "192.168.1.0/24", "::1/128"])
        #expect(throws: CIDR.ParseError.self) { try AddressPolicy(allowingList: "10.0.0.0/8,nonsense") }
        #expect(try AddressPolicy(allowingList: "") == .publicOnly)
    }
}
