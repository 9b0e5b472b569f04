import Testing
import WebhookCore

@Suite struct SecretRotationTests {
    let start = Timestamp(milliseconds: 1_800_000_000_000)

    @Test func duringTheOverlapBothSignAndTheLegacyHeaderKeepsTheOldSecret() {
        let rotation = SecretRotation(current: "old-secret-0123456789")
            .rotated(to: "new-secret-0123456789", overlapSeconds: 60, now: start)
        #expect(rotation.previous == "old-secret-0123456789")
        #expect(rotation.expiresAt == start.adding(milliseconds: 60_000))
        let during = start.adding(milliseconds: 59_999)
        #expect(rotation.signingSecrets(at: during) == ["new-secret-0123456789", "old-secret-0123456789"])
        #expect(rotation.legacySecret(at: during) == "old-secret-0123456789")
        let after = start.adding(milliseconds: 60_000)
        #expect(rotation.signingSecrets(at: after) == ["new-secret-0123456789"])
        #expect(rotation.legacySecret(at: after) == "new-secret-0123456789")
        #expect(!rotation.inOverlap(at: after))
    }

    @Test func aZeroOverlapEndsTheOldSecretAtOnce() {
        let rotation = SecretRotation(current: "old-secret-0123456789")
            .rotated(to: "new-secret-0123456789", overlapSeconds: 0, now: start)
        #expect(rotation.previous == nil && rotation.expiresAt == nil)
        #expect(rotation.signingSecrets(at: start) == ["new-secret-0123456789"])
        #expect(rotation.legacySecret(at: start) == "new-secret-0123456789")
    }

    @Test func rotatingAgainDuringAnOverlapKeepsOnlyTheTwoNewest() {
        let first = SecretRotation(current: "a-secret-0123456789ab")
            .rotated(to: "b-secret-0123456789ab", overlapSeconds: 3600, now: start)
        let second = first.rotated(
            to: "c-secret-0123456789ab", overlapSeconds: 10, now: start.adding(milliseconds: 1000))
        #expect(
            second.signingSecrets(at: start.adding(milliseconds: 2000)) == [
                "c-secret-0123456789ab", "b-secret-0123456789ab",
            ])
        #expect(second.signingSecrets(at: start.adding(milliseconds: 11_000)) == ["c-secret-0123456789ab"])
    }

    @Test func deliveryHeadersCarryOneSignaturePerValidSecretAndRedactThem() {
        let rotation = SecretRotation(
            current: "new-secret-0123456789", previous: "old-secret-0123456789",
            expiresAt: start.adding(milliseconds: 1000))
        let body = Array(#"{"id":"evt_1"}"#.utf8)
        let signatures = DeliveryHeaders.sign(
            body: body, eventID: "evt_1", timestamp: 1_800_000_000, rotation: rotation, now: start)
        #expect(signatures.standard.split(separator: " ").count == 2)
        #expect(WebhookSignature.verify(header: signatures.legacy, body: body, secret: "old-secret-0123456789"))
        let headers = DeliveryHeaders(
            eventID: "evt_1", eventType: "qr.scanned", attempt: 2, webhookID: "wh_1", timestamp: 1_800_000_000)
        let custom = CustomHeaders([.init(name: "Authorization", value: "Bearer token-0123456789")])
        let lines = headers.lines(signatures, custom: custom)
        #expect(lines.contains("webhook-id: evt_1"))
        #expect(lines.contains("webhook-timestamp: 1800000000"))
        #expect(lines.last == "Authorization: Bearer token-0123456789")
        let shown = headers.redacted(signatureCount: 2, headerNames: ["Authorization"])
        #expect(shown.first! == ("Content-Type", "application/json"))
        #expect(shown.contains { $0 == ("webhook-signature", "v1,[redacted] v1,[redacted]") })
        #expect(shown.contains { $0 == ("X-QR3-Signature", "sha256=[redacted]") })
        #expect(shown.contains { $0 == ("Authorization", "[redacted]") })
        #expect(shown.contains { $0 == ("X-QR3-Delivery-Attempt", "2") })
    }

    @Test func timingsPrintAsMillisecondsWithThreeDecimals() {
        #expect(TransferTimings.milliseconds(0) == "0")
        #expect(TransferTimings.milliseconds(1500) == "1.5")
        #expect(TransferTimings.milliseconds(52) == "0.052")
        #expect(TransferTimings.milliseconds(2_000_000) == "2000")
        #expect(
            TransferTimings(nameLookup: 10, connect: 120, firstByte: 3400, total: 3500).json
                == #"{"name_lookup_ms":0.01,"connect_ms":0.12,"tls_ms":null,"first_byte_ms":3.4,"total_ms":3.5}"#)
    }
}
