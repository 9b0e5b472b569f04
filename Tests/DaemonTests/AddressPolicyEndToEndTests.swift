import Foundation
import Testing
import WebhookCore
import WebhookTestSupport

/// SSRF protection through the real daemon: with no `allow-networks`, a webhook aimed at
/// loopback, link-local, private or reserved addresses (in any spelling, or through a name)
/// gets `blocked_address` attempts and nothing reaches the address; allowing `127.0.0.0/8`
/// opens exactly the loopback IPv4 forms.
@Suite(.timeLimit(.minutes(2))) struct AddressPolicyEndToEndTests {
    /// A webhook target and what becomes of it with `--allow-networks 127.0.0.0/8`: delivered
    /// (`success`), let through to an address where nothing listens (`connect`), or still blocked.
    struct Target: Sendable {
        let name: String
        let url: String
        let whenLoopbackAllowed: String

        init(name: String, url: String, loopbackV4: Bool) {
            self.init(name: name, url: url, whenLoopbackAllowed: loopbackV4 ? "success" : "blocked_address")
        }

        init(name: String, url: String, whenLoopbackAllowed: String) {
            self.name = name
            self.url = url
            self.whenLoopbackAllowed = whenLoopbackAllowed
        }

        /// The path the receiver sees when the request arrives.
        var path: String { "/" + (url.split(separator: "/").last.map(String.init) ?? "") }
    }

    static func targets(port: Int) -> [Target] {
        [
            Target(name: "127.0.0.1", url: "http://127.0.0.1:\(port)/dotted", loopbackV4: true),
            Target(name: "decimal", url: "http://2130706433:\(port)/decimal", loopbackV4: true),
            Target(name: "hex", url: "http://0x7f000001:\(port)/hex", loopbackV4: true),
            Target(name: "octal", url: "http://0177.0.0.1:\(port)/octal", loopbackV4: true),
            Target(name: "short form", url: "http://127.1:\(port)/short", loopbackV4: true),
            Target(name: "other loopback", url: "http://127.0.0.2:\(port)/other", whenLoopbackAllowed: "connect"),
            Target(name: "localhost", url: "http://localhost:\(port)/localhost", loopbackV4: true),
            Target(name: "unspecified", url: "http://0.0.0.0:\(port)/unspecified", loopbackV4: false),
            Target(name: "IPv6 loopback", url: "http://[::1]:\(port)/v6", loopbackV4: false),
            Target(name: "IPv4-mapped loopback", url: "http://[::ffff:127.0.0.1]:\(port)/mapped", loopbackV4: true),
            Target(name: "cloud metadata", url: "http://169.254.169.254/latest/meta-data/", loopbackV4: false),
            Target(name: "RFC 1918", url: "http://10.0.0.1:\(port)/private", loopbackV4: false),
            Target(name: "RFC 1918 192.168", url: "http://192.168.0.1/private", loopbackV4: false),
            Target(name: "CGNAT", url: "http://100.64.0.1/cgnat", loopbackV4: false),
            Target(name: "IPv6 unique local", url: "http://[fd00::1]/ula", loopbackV4: false),
            Target(name: "IPv4-mapped metadata", url: "http://[::ffff:169.254.169.254]/mapped", loopbackV4: false),
        ]
    }

    @Test func privateTargetsAreBlockedByDefault() async throws {
        let harness = try Harness(retrySchedule: "0", allowNetworks: nil)
        defer { harness.remove() }
        let receiver = try await TestReceiver.start()
        defer { Task { try? await receiver.shutdown() } }
        let targets = Self.targets(port: receiver.port)
        var webhooks: [String: String] = [:]
        for target in targets {
            webhooks[target.name] = try await harness.addWebhook(url: target.url, events: "qr.created")
        }
        let daemon = try await harness.startDaemon()
        defer { daemon.stop() }
        try harness.insert([("ws_test", "qr.created", "{}")])
        try await daemon.waitForLog("Delivery failed after its last attempt", occurrences: targets.count)

        for target in targets {
            let webhook = try #require(webhooks[target.name])
            let log = try await harness.deliveryLog(webhook)
            #expect(log.count == 1, "\(target.name)")
            #expect(
                log.first?["failure_class"] as? String == "blocked_address",
                "\(target.name) (\(target.url)): \(log.first?["failure_class"] ?? "-"): \(log.first?["response_excerpt"] ?? "")"
            )
        }
        #expect(receiver.requests.isEmpty, "nothing reached the receiver: \(receiver.requests.map(\.uri))")
        #expect(receiver.connectionCount == 0, "not even a connection was opened")
    }

    @Test func allowingLoopbackOpensOnlyLoopback() async throws {
        let harness = try Harness(retrySchedule: "0", allowNetworks: "127.0.0.0/8")
        defer { harness.remove() }
        let receiver = try await TestReceiver.start()
        defer { Task { try? await receiver.shutdown() } }
        let targets = Self.targets(port: receiver.port)
        var webhooks: [String: String] = [:]
        for target in targets {
            webhooks[target.name] = try await harness.addWebhook(url: target.url, events: "qr.created")
        }
        let daemon = try await harness.startDaemon()
        defer { daemon.stop() }
        try harness.insert([("ws_test", "qr.created", "{}")])
        let delivered = targets.filter { $0.whenLoopbackAllowed == "success" }
        try await daemon.waitForLog("Delivered", occurrences: delivered.count)
        try await daemon.waitForLog(
            "Delivery failed after its last attempt", occurrences: targets.count - delivered.count)

        for target in targets {
            let webhook = try #require(webhooks[target.name])
            let attempt = try #require(try await harness.deliveryLog(webhook).first)
            let outcome = attempt["failure_class"] as? String ?? (attempt["status"] as? String ?? "-")
            #expect(outcome == target.whenLoopbackAllowed, "\(target.name) (\(target.url)): \(attempt)")
        }
        #expect(Set(receiver.requests.map(\.path)) == Set(delivered.map(\.path)))
    }
}
