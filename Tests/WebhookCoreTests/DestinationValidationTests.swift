import Testing
import WebhookCore

@Suite struct DestinationValidationTests {
    @Test(arguments: [
        ("127.0.0.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("0x7F.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"), ("127.1", "127.0.0.1"), ("10.1.2", "10.1.0.2"), ("0", "0.0.0.0"),
        ("::ffff:10.0.0.1", "::ffff:10.0.0.1"), ("::1", "::1"),
    ])
    func literalAddressesInEveryFormAResolverAccepts(_ host: String, _ address: String) {
        #expect(WebhookValidation.literalAddress(host)?.description == address)
    }

    @Test(arguments: [
        "example.com", "0x", "08.0.0.1", "1.2.3.4.5", "256.0.0.1", "1.16777216", "4294967296", "a.b", "", "1..2",
    ])
    func hostNamesAndImpossibleNumbersAreNotAddresses(_ host: String) {
        #expect(WebhookValidation.literalAddress(host) == nil)
    }

    @Test func thePolicyDecidesAndAllowNetworksOpensBlocks() throws {
        func check(_ url: String, _ policy: AddressPolicy) -> String? {
            guard let parsed = WebhookURL(url) else { return "unparsable" }
            do throws(WebhookValidation.Invalid) {
                try WebhookValidation.validateDestination(parsed, policy: policy)
                return nil
            } catch {
                return error.message
            }
        }
        #expect(check("http://0x7f.1/", .publicOnly)?.contains("loopback, private or reserved") == true)
        #expect(check("http://[::ffff:192.168.1.1]:80/", .publicOnly) != nil)
        #expect(check("http://LOCALHOST./", .publicOnly)?.contains("loopback name") == true)
        #expect(check("http://[not:an:address]/", .publicOnly)?.contains("not a valid IPv6 address") == true)
        #expect(check("https://example.com/", .publicOnly) == nil)
        #expect(check("https://8.8.8.8/", .publicOnly) == nil)
        let lab = AddressPolicy(allowing: [try CIDR("127.0.0.0/8")])
        #expect(check("http://2130706433/", lab) == nil)
        #expect(check("http://localhost/", lab) == nil)
        #expect(check("http://10.0.0.1/", lab) != nil)
    }

    @Test func apiKeysAreStoredAsTheirSHA256() {
        #expect(APIKeyMaterial.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let material = APIKeyMaterial.generate()
        #expect(material.key.hasPrefix("qr3k_"))
        #expect(material.key.count == 45)
        #expect(material.prefix == String(material.key.prefix(13)))
        #expect(material.hash == APIKeyMaterial.hash(material.key))
        #expect(APIKeyMaterial.looksLikeKey(material.key))
        #expect(!APIKeyMaterial.looksLikeKey(material.key + "x"))
        #expect(!APIKeyMaterial.looksLikeKey("qr3k_" + String(repeating: "-", count: 40)))
        #expect(APIKeyMaterial.generate().key != material.key)
    }

    @Test func secretsAreCountedInCodePointsAsTheDatabaseCounts() {
        // 16 grapheme clusters but 32 code points (e + combining acute): fits, and 200 of them do not.
        let accented = String(repeating: "e\u{301}", count: 16)
        #expect((try? WebhookValidation.validateSecret(accented)) != nil)
        #expect((try? WebhookValidation.validateSecret(String(repeating: "e\u{301}", count: 200))) == nil)
    }
}
