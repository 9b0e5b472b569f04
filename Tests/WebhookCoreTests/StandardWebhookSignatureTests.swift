import Foundation
import Testing
import WebhookCore

@Suite struct StandardWebhookSignatureTests {
    /// The test vector of the Standard Webhooks specification (and of the `standardwebhooks` libraries' tests).
    static let vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let vectorID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    static let vectorTimestamp: Int64 = 1_614_265_330
    static let vectorBody = Array(#"{"test": 2432232314}"#.utf8)
    static let vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

    @Test func matchesTheSpecificationsTestVector() {
        let key = StandardWebhookSignature.Key(secret: Self.vectorSecret)
        #expect(key.bytes == Array(Data(base64Encoded: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")!))
        let header = StandardWebhookSignature.header(
            id: Self.vectorID, timestamp: Self.vectorTimestamp, body: Self.vectorBody, keys: [key])
        #expect(header == Self.vectorSignature)
        #expect(
            StandardWebhookSignature.verify(
                header: header, id: Self.vectorID, timestamp: Self.vectorTimestamp, body: Self.vectorBody, key: key))
        #expect(
            !StandardWebhookSignature.verify(
                header: header, id: Self.vectorID, timestamp: Self.vectorTimestamp + 1, body: Self.vectorBody,
                key: key))
    }

    @Test func aSecretWithoutThePrefixIsUsedAsItsUTF8Bytes() {
        #expect(
            StandardWebhookSignature.Key(secret: "my-secret-key-min-16-chars").bytes
                == Array("my-secret-key-min-16-chars".utf8))
        // Not base64 after the prefix: the whole string is the key.
        #expect(StandardWebhookSignature.Key(secret: "whsec_not base64!").bytes == Array("whsec_not base64!".utf8))
        // Unpadded base64 decodes as the libraries decode it.
        #expect(StandardWebhookSignature.Key(secret: "whsec_YWJj").bytes == Array("abc".utf8))
        #expect(StandardWebhookSignature.Key(secret: "whsec_YWI").bytes == Array("ab".utf8))
    }

    @Test func severalSecretsGiveSpaceSeparatedSignaturesInOrder() {
        let old = StandardWebhookSignature.Key(secret: "old-secret-0123456789")
        let new = StandardWebhookSignature.Key(secret: Self.vectorSecret)
        let both = StandardWebhookSignature.header(
            id: Self.vectorID, timestamp: Self.vectorTimestamp, body: Self.vectorBody, keys: [new, old])
        let parts = both.split(separator: " ").map(String.init)
        #expect(parts.count == 2)
        #expect(parts[0] == Self.vectorSignature)
        for key in [old, new] {
            #expect(
                StandardWebhookSignature.verify(
                    header: both, id: Self.vectorID, timestamp: Self.vectorTimestamp, body: Self.vectorBody, key: key))
        }
        #expect(
            !StandardWebhookSignature.verify(
                header: both, id: Self.vectorID, timestamp: Self.vectorTimestamp, body: Self.vectorBody,
                key: .init(secret: "third-secret-0123456789")))
    }

    @Test func signsAnEmptyBody() {
        let key = StandardWebhookSignature.Key(secret: "a-secret-of-16-chars")
        let header = StandardWebhookSignature.header(id: "evt_1", timestamp: 1, body: [], keys: [key])
        #expect(header.hasPrefix("v1,") && header.count == 47)
    }

    @Test func base64RoundTripsAndRefusesNonBase64() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }
            let encoded = Base64.encode(bytes)
            #expect(encoded == Data(bytes).base64EncodedString())
            #expect(Base64.decode(encoded) == bytes)
        }
        #expect(Base64.decode("a") == nil)
        #expect(Base64.decode("ab-_") == nil)
        #expect(Base64.decode("YWJj===") == nil)
    }

    @Test func generatedSecretsAreBase64KeysTellableApartByTheirHints() throws {
        let secrets = (0..<50).map { _ in WebhookValidation.generateSecret() }
        for secret in secrets {
            #expect(secret.hasPrefix("whsec_") && secret.count == 38)
            #expect(StandardWebhookSignature.Key(secret: secret).bytes.count == 24)
            try WebhookValidation.validateSecret(secret)
            #expect(Webhook.hint(for: secret) == String(secret.prefix(10)) + "…")
        }
        #expect(Set(secrets.map(Webhook.hint(for:))).count > 45, "hints of generated secrets differ")
        #expect(Webhook.hint(for: "my-secret-key-min-16-chars") == "my-s…")
        #expect(throws: WebhookValidation.Invalid.self) {
            try WebhookValidation.validateSecret("whsec_this is not base64 at all")
        }
        #expect(throws: WebhookValidation.Invalid.self) {
            try WebhookValidation.validateSecret("whsec_YWJjZGVmZ2hpams=")
        }
    }
}
