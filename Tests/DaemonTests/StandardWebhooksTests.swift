import Foundation
import Testing
import WebhookCore
import WebhookTestSupport

/// Real deliveries verified by receivers' own libraries (`standardwebhooks` and `svix` from PyPI,
/// pinned by scripts/bootstrap), for a secret of the user's and a generated one, before, during and
/// after a secret rotation; the seed's X-QR3-Signature keeps verifying with the documented snippets.
@Suite(.timeLimit(.minutes(2))) struct StandardWebhooksTests {
    /// One delivery to check against one secret.
    struct Check {
        var request: ReceivedRequest
        var secret: String
    }

    /// The verdicts of verify_standard.py, one line per check: `standardwebhooks=ok svix=ok x-qr3=ok`.
    func verify(_ checks: [Check], in harness: Harness) async throws -> [String] {
        let cases: [[String: Any]] = checks.map { check in
            var headers: [String: String] = [:]
            for (name, value) in check.request.headers { headers[name] = value }
            return [
                "secret": check.secret, "headers": headers, "body_b64": Data(check.request.body).base64EncodedString(),
            ]
        }
        let path = harness.directory.file("cases-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: cases).write(to: URL(fileURLWithPath: path))
        let result = try await runToolInBackground(
            "/usr/bin/env", ["python3", fixtures.appendingPathComponent("receivers/verify_standard.py").path, path])
        try #require(
            result.status == 0,
            "verify_standard.py failed (scripts/bootstrap installs standardwebhooks and svix): \(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        try #require(lines.count == checks.count, "\(result.stdout)\(result.stderr)")
        return lines
    }

    /// The seed's Node snippet (spec-signature.js) on X-QR3-Signature: `valid` or `invalid` per check.
    func verifyWithNode(_ checks: [Check], in harness: Harness) async throws -> [String] {
        let lines = checks.map { check in
            [
                Data(check.secret.utf8), Data(check.request.body),
                Data((check.request.header("X-QR3-Signature") ?? "").utf8),
            ]
            .map { $0.base64EncodedString() }.joined(separator: " ") + "\n"
        }
        let path = harness.directory.file("node-\(UUID().uuidString).txt")
        try lines.joined().write(toFile: path, atomically: true, encoding: .utf8)
        let result = try await runToolInBackground(
            "/usr/bin/env", ["node", fixtures.appendingPathComponent("receivers/check-node.js").path, path])
        try #require(result.status == 0, "check-node.js failed: \(result.stderr)")
        return result.stdout.split(separator: "\n").map(String.init)
    }

    func object(_ output: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
    }

    @Test func librariesVerifyDeliveriesBeforeDuringAndAfterARotation() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let chosenReceiver = try await TestReceiver.start()
        let generatedReceiver = try await TestReceiver.start()
        defer {
            Task {
                try? await chosenReceiver.shutdown(); try? await generatedReceiver.shutdown()
            }
        }
        let chosenSecret = "my-secret-key-min-16-chars"
        let chosen = try await harness.addWebhook(url: chosenReceiver.url, secret: chosenSecret)
        let created = try object(
            try await harness.runCLI([
                "webhooks", "create", "--workspace", "ws_test", "--url", generatedReceiver.url, "--json",
            ]).stdout)
        let generated = try #require(created["id"] as? String)
        let generatedSecret = try #require(created["secret"] as? String)
        #expect(generatedSecret.hasPrefix("whsec_"))
        let daemon = try await harness.startDaemon()
        defer { daemon.stop() }

        // Before any rotation: one signature, the one secret verifies.
        try harness.insert(
            [("ws_test", "qr.scanned", #"{"code_id":"qr_1","name":"Müller"}"#)], eventIDs: ["evt_before"])
        let before = [
            try #require(try await chosenReceiver.waitForRequests(count: 1).last),
            try #require(try await generatedReceiver.waitForRequests(count: 1).last),
        ]
        for request in before {
            #expect(request.header("webhook-id") == "evt_before")
            let timestamp = try #require(Int64(request.header("webhook-timestamp") ?? ""))
            #expect(abs(timestamp - Timestamp.now().milliseconds / 1000) <= 5)
            #expect(request.header("webhook-signature")?.split(separator: " ").count == 1)
        }
        let beforeVerdicts = try await verify(
            [Check(request: before[0], secret: chosenSecret), Check(request: before[1], secret: generatedSecret)],
            in: harness)
        print("StandardWebhooksTests before rotation: \(beforeVerdicts)")
        #expect(beforeVerdicts == Array(repeating: "standardwebhooks=ok svix=ok x-qr3=ok", count: 2))

        // Rotate both: the user's to a secret read from a file, the generated one to a new generated one.
        let newChosenSecret = "my-rotated-secret-0123456789"
        let secretFile = harness.directory.file("new-secret.txt")
        try (newChosenSecret + "\n").write(toFile: secretFile, atomically: true, encoding: .utf8)
        let overlap = 3
        let rotatedChosen = try object(
            try await harness.runCLI([
                "webhooks", "rotate-secret", chosen, "--secret-file", secretFile, "--overlap", "\(overlap)s", "--json",
            ]).stdout)
        #expect(rotatedChosen["secret"] as? String == newChosenSecret)
        let rotatedGenerated = try object(
            try await harness.runCLI(["webhooks", "rotate-secret", generated, "--overlap", "\(overlap)", "--json"])
                .stdout)
        let newGeneratedSecret = try #require(rotatedGenerated["secret"] as? String)
        #expect(newGeneratedSecret.hasPrefix("whsec_") && newGeneratedSecret != generatedSecret)
        #expect(rotatedGenerated["secret_hint"] as? String != created["secret_hint"] as? String)
        #expect(rotatedGenerated["previous_secret_hint"] as? String == created["secret_hint"] as? String)
        let expiries = try [rotatedChosen, rotatedGenerated].map { rotated in
            try #require(Timestamp(iso8601: rotated["previous_secret_expires_at"] as? String ?? ""))
        }

        // During the overlap: two signatures; old and new secret both verify; X-QR3-Signature keeps the old one.
        try harness.insert([("ws_test", "qr.scanned", #"{"code_id":"qr_2"}"#)], eventIDs: ["evt_during"])
        let during = [
            try #require(try await chosenReceiver.waitForRequests(count: 2).last),
            try #require(try await generatedReceiver.waitForRequests(count: 2).last),
        ]
        #expect(Timestamp.now() < expiries.min()!, "the overlap lasted through the delivery; make it longer if not")
        for request in during {
            #expect(request.header("webhook-id") == "evt_during")
            #expect(request.header("webhook-signature")?.split(separator: " ").count == 2)
        }
        let duringVerdicts = try await verify(
            [
                Check(request: during[0], secret: chosenSecret), Check(request: during[0], secret: newChosenSecret),
                Check(request: during[1], secret: generatedSecret),
                Check(request: during[1], secret: newGeneratedSecret),
            ], in: harness)
        print("StandardWebhooksTests during the overlap (old, new, old, new): \(duringVerdicts)")
        // The log keeps what the redacted request headers need: the timestamp and both signatures.
        try await harness.eventually("the overlap's attempts recorded") {
            try harness.count("SELECT COUNT(*) FROM attempts WHERE event_id = 'evt_during' AND signatures = 2") == 2
        }
        let signedAt = try harness.count("SELECT signed_at FROM attempts WHERE event_id = 'evt_during' LIMIT 1")
        #expect(String(signedAt) == during[0].header("webhook-timestamp"))
        #expect(
            duringVerdicts == [
                "standardwebhooks=ok svix=ok x-qr3=ok", "standardwebhooks=ok svix=ok x-qr3=invalid",
                "standardwebhooks=ok svix=ok x-qr3=ok", "standardwebhooks=ok svix=ok x-qr3=invalid",
            ])

        // After the overlap (waited for by polling the clock against the expiry the API gave): only the new secret.
        try await harness.eventually("the overlap to end") { Timestamp.now() >= expiries.max()! }
        let shown = try object(try await harness.runCLI(["webhooks", "show", chosen, "--json"]).stdout)
        #expect(shown["previous_secret_expires_at"] is NSNull)
        try harness.insert([("ws_test", "qr.scanned", #"{"code_id":"qr_3"}"#)], eventIDs: ["evt_after"])
        let after = [
            try #require(try await chosenReceiver.waitForRequests(count: 3).last),
            try #require(try await generatedReceiver.waitForRequests(count: 3).last),
        ]
        for request in after {
            #expect(request.header("webhook-signature")?.split(separator: " ").count == 1)
        }
        let afterChecks = [
            Check(request: after[0], secret: chosenSecret), Check(request: after[0], secret: newChosenSecret),
            Check(request: after[1], secret: generatedSecret), Check(request: after[1], secret: newGeneratedSecret),
        ]
        let afterVerdicts = try await verify(afterChecks, in: harness)
        print("StandardWebhooksTests after the overlap (old, new, old, new): \(afterVerdicts)")
        #expect(afterVerdicts[1] == "standardwebhooks=ok svix=ok x-qr3=ok")
        #expect(afterVerdicts[3] == "standardwebhooks=ok svix=ok x-qr3=ok")
        for old in [afterVerdicts[0], afterVerdicts[2]] {
            #expect(
                old.hasPrefix("standardwebhooks=No_matching_signature_found svix=No_matching_signature_found"), "\(old)"
            )
            #expect(old.hasSuffix("x-qr3=invalid"))
        }

        // The seed's Node snippet agrees on X-QR3-Signature, before, during (old secret) and after (new secret).
        let node = try await verifyWithNode(
            [
                Check(request: before[0], secret: chosenSecret), Check(request: during[0], secret: chosenSecret),
                Check(request: after[0], secret: newChosenSecret), Check(request: after[0], secret: chosenSecret),
                Check(request: during[1], secret: generatedSecret),
                Check(request: after[1], secret: newGeneratedSecret),
            ], in: harness)
        print("StandardWebhooksTests X-QR3-Signature with the Node snippet: \(node)")
        #expect(node == ["valid", "valid", "valid", "invalid", "valid", "valid"])

        // A replay: the libraries refuse the first request once its timestamp is over 5 minutes old.
        var replayed = before[0]
        let stale = Int64(before[0].header("webhook-timestamp")!)! - 301
        replayed.headers = replayed.headers.map {
            $0.name.lowercased() == "webhook-timestamp" ? ($0.name, String(stale)) : $0
        }
        let replay = try await verify([Check(request: replayed, secret: chosenSecret)], in: harness)
        #expect(
            replay.first?.hasPrefix("standardwebhooks=Message_timestamp_too_old svix=Message_timestamp_too_old")
                == true, "\(replay)")
        #expect(!daemon.log.contains(chosenSecret) && !daemon.log.contains(newGeneratedSecret))
    }

    @Test func customHeadersArriveReservedOnesAreRefusedTimingsAreLoggedAndShown() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let receiver = try await TestReceiver.start()
        defer { Task { try? await receiver.shutdown() } }
        let token = "Bearer gw-" + Identifier.make("", length: 24)
        let created = try object(
            try await harness.runCLI([
                "webhooks", "create", "--workspace", "ws_test", "--url", receiver.url, "--secret",
                "test-secret-0123456789", "--header", "Authorization: \(token)", "--header", "X-Gateway-Route: qr3",
                "--json",
            ]).stdout)
        let webhook = try #require(created["id"] as? String)
        #expect(
            created["headers"] as? [String: String] == ["Authorization": "[redacted]", "X-Gateway-Route": "[redacted]"])
        for reserved in [
            "Content-Type: text/plain", "host: evil.example", "X-QR3-Signature: sha256=00", "Webhook-Id: x",
        ] {
            let refused = try await harness.runCLI(
                ["webhooks", "update", webhook, "--header", reserved], expectSuccess: false)
            let name = String(reserved.prefix { $0 != ":" })
            #expect(refused.status != 0 && refused.stderr.contains("\"\(name)\" is reserved"), "\(refused.stderr)")
        }
        let daemon = try await harness.startDaemon()
        defer { daemon.stop() }
        try harness.insert([("ws_test", "qr.created", "{}")], eventIDs: ["evt_headers"])
        let request = try #require(try await receiver.waitForRequests(count: 1).first)
        #expect(request.header("Authorization") == token)
        #expect(request.header("X-Gateway-Route") == "qr3")
        #expect(request.headerValues("Content-Type") == ["application/json"])
        #expect(request.headerValues("Host").count == 1)

        try await daemon.waitForLog("Delivered")
        let line = try #require(daemon.log.split(separator: "\n").first { $0.contains("Delivered") })
        print("StandardWebhooksTests log line: \(line)")
        #expect(line.contains("remote_address=127.0.0.1:"))
        for step in ["name_lookup_ms=", "connect_ms=", "first_byte_ms=", "total_ms="] {
            #expect(line.contains(step), "\(step) missing from \(line)")
        }
        let attempt = try #require(try await harness.deliveryLog(webhook).first)
        let timings = try #require(attempt["timings"] as? [String: Any])
        print("StandardWebhooksTests deliveries --json: remote \(attempt["remote_address"] ?? "-"), timings \(timings)")
        #expect((attempt["remote_address"] as? String)?.hasPrefix("127.0.0.1:") == true)
        let connect = try #require(timings["connect_ms"] as? Double)
        let firstByte = try #require(timings["first_byte_ms"] as? Double)
        let total = try #require(timings["total_ms"] as? Double)
        #expect(connect <= firstByte && firstByte <= total)
        #expect(timings["tls_ms"] is NSNull)
        let table = try await harness.runCLI(["deliveries", webhook]).stdout
        #expect(table.contains("REMOTE") && table.contains("127.0.0.1:"))
        let printed = daemon.log + table + (try await harness.runCLI(["webhooks", "show", webhook, "--json"]).stdout)
        #expect(!printed.contains(token) && !printed.contains(String(token.suffix(20))), "a header value was printed")

        // Clearing the headers: the next delivery carries none of them.
        try await harness.runCLI(["webhooks", "update", webhook, "--clear-headers"])
        try harness.insert([("ws_test", "qr.created", "{}")])
        let next = try #require(try await receiver.waitForRequests(count: 2).last)
        #expect(next.header("Authorization") == nil)
    }
}
