import Testing
import WebhookCore

@Suite struct EventSubscriptionTests {
    @Test func wildcardMatchesEverythingButPing() throws {
        let subscription = try EventSubscription(validating: ["*"])
        for type in EventType.allCases where type != .webhookPing {
            #expect(subscription.matches(type))
        }
        #expect(!subscription.matches(.webhookPing))
    }

    @Test func scanAliasMatchesBothWays() throws {
        let scanned = try EventSubscription(validating: ["qr.scanned"])
        let created = try EventSubscription(validating: ["scan.created"])
        #expect(scanned.matches(.scanCreated))
        #expect(scanned.matches(.qrScanned))
        #expect(created.matches(.qrScanned))
        #expect(!created.matches(.qrCreated))
    }

    @Test func exactTypeMatchesOnlyItself() throws {
        let subscription = try EventSubscription(validating: ["qr.created", "qr.deleted"])
        #expect(subscription.matches(.qrCreated))
        #expect(subscription.matches(.qrDeleted))
        #expect(!subscription.matches(.qrUpdated))
        #expect(!subscription.matches(.qrScanned))
    }

    @Test func rejectsEmptyAndUnknown() {
        #expect(throws: EventSubscription.Invalid.self) { try EventSubscription(validating: []) }
        do {
            _ = try EventSubscription(validating: ["qr.created", "qr.exploded"])
            Issue.record("an unknown type was accepted")
        } catch {
            #expect(error.message.contains("qr.exploded"))
        }
    }

    @Test func duplicatesAreFolded() throws {
        let subscription = try EventSubscription(validating: ["qr.created", "qr.created", "*"])
        #expect(subscription.names == ["qr.created", "*"])
    }
}
