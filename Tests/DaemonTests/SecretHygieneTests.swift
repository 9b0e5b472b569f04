import Foundation
import GRDB
import Testing
import WebhookCore
import WebhookTestSupport

/// Secrets stay out of everything the daemon and the CLI print, and the database that holds
/// them is readable by its owner only.
@Suite(.timeLimit(.minutes(2))) struct SecretHygieneTests {
    @Test func secretsNeverAppearInLogsListingsOrErrors() async throws {
        let harness = try Harness(retrySchedule: "0,0.1")
        defer { harness.remove() }
        let good = try await TestReceiver.start()
        let failing = try await TestReceiver.start { _ in .status(500, body: "internal error") }
        defer {
            Task {
                try? await good.shutdown(); try? await failing.shutdown()
            }
        }
        // Distinct, unguessable secrets, so a hit can only be a leak.
        let secrets = (0..<5).map { _ in "s3cret-" + Identifier.make("", length: 24) }
        let goodWebhook = try await harness.addWebhook(url: good.url, secret: secrets[0])
        let failingWebhook = try await harness.addWebhook(url: failing.url, secret: secrets[1])
        let blockedWebhook = try await harness.addWebhook(url: "http://10.0.0.1:9/hook", secret: secrets[2])
        let unresolvable = try await harness.addWebhook(url: "http://leak-check.invalid/hook", secret: secrets[3])
        var printed: [String] = []

        let daemon = try await harness.startDaemon(["--log-level", "trace", "--disable-after", "3"])
        defer { daemon.stop() }
        try harness.insert(Array(repeating: ("ws_test", "qr.created", #"{"code_id":"qr_1"}"#), count: 3))
        try await daemon.waitForLog("Webhook disabled; its deliveries are held until it is enabled")
        _ = try await good.waitForRequests(count: 3)
        try await harness.eventually("every attempt recorded") {
            try harness.count("SELECT COUNT(*) FROM jobs WHERE state = 'pending'") == 0
        }
        #expect(try await harness.deliveryLog(blockedWebhook).first?["failure_class"] as? String == "blocked_address")
        #expect(try await harness.deliveryLog(unresolvable).first?["failure_class"] as? String == "dns")

        // Everything an operator can print.
        for arguments in [
            ["webhooks", "list"], ["webhooks", "list", "--json"], ["webhooks", "show", goodWebhook],
            ["webhooks", "show", failingWebhook, "--json"], ["deliveries", goodWebhook],
            ["deliveries", failingWebhook, "--json"],
            ["status"], ["status", "--json"], ["webhooks", "disable", goodWebhook],
            ["webhooks", "enable", failingWebhook],
            ["webhooks", "update", goodWebhook, "--url", good.url + "?v=2"],
            ["webhooks", "update", goodWebhook, "--secret", secrets[4]],
        ] {
            let result = try await harness.runCLI(arguments)
            printed += [result.stdout, result.stderr]
        }
        // Errors about secrets say what is wrong without echoing the secret.
        for (arguments, message) in [
            (
                ["webhooks", "update", goodWebhook, "--secret", secrets[0] + String(repeating: "x", count: 240)],
                "secret must be"
            ),
            (["webhooks", "update", goodWebhook, "--secret", secrets[0] + "\u{7}"], "control characters"),
            (["webhooks", "create", "--workspace", "bad ws", "--url", good.url, "--secret", secrets[0]], "workspace"),
            (["webhooks", "create", "--workspace", "ws", "--url", "ftp://x", "--secret", secrets[0]], "url must be"),
            (["webhooks", "update", "wh_missing", "--secret", secrets[0]], "no webhook"),
        ] {
            let result = try await harness.runCLI(arguments, expectSuccess: false)
            #expect(result.status != 0 && result.stderr.contains(message), "\(arguments): \(result.stderr)")
            printed += [result.stdout, result.stderr]
        }
        daemon.send(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
        printed += [daemon.log, daemon.standardOutput]

        let everything = printed.joined(separator: "\n")
        #expect(
            everything.contains("Delivery attempt failed") && everything.contains("Delivered"),
            "the debug log was captured")
        for secret in secrets {
            #expect(!everything.contains(secret), "a secret was printed")
            #expect(!everything.contains(String(secret.prefix(12))), "a piece of a secret was printed")
        }
        // The hint is all a listing shows.
        #expect(everything.contains(String(secrets[1].prefix(4)) + "…"))
    }

    @Test func aSecretReadFromAFileOrStandardInputNeverAppearsOnTheCommandLine() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let receiver = try await TestReceiver.start()
        defer { Task { try? await receiver.shutdown() } }
        let first = "from-a-file-" + Identifier.make("", length: 20)
        let second = "from-stdin-" + Identifier.make("", length: 20)
        let file = harness.directory.file("secret.txt")
        try (first + "\n").write(toFile: file, atomically: true, encoding: .utf8)

        let created = try await harness.runCLI([
            "webhooks", "create", "--workspace", "ws_test", "--url", receiver.url, "--secret-file", file, "--json",
        ])
        let object = try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any]
        let webhook = try #require(object?["id"] as? String)
        #expect(object?["secret"] as? String == first, "the file's secret, without its newline")

        let daemon = try await harness.startDaemon()
        defer { daemon.stop() }
        try harness.insert([("ws_test", "qr.created", "{}")])
        let signed = try #require(try await receiver.waitForRequests(count: 1).first)
        #expect(
            WebhookSignature.verify(header: signed.header("X-QR3-Signature") ?? "", body: signed.body, secret: first))

        // From standard input, through a pipe as a script would; then the next request is signed with it.
        let updated = try await runToolInBackground(
            "/bin/sh",
            [
                "-c", "printf '%s\\r\\n' \"$SECRET\" | \"$0\" webhooks update \"$1\" --secret-file - --database \"$2\"",
                DaemonProcess.executablePath, webhook, harness.databasePath,
            ],
            environment: ["SECRET": second])
        #expect(updated.status == 0, "\(updated.stderr)")
        try harness.insert([("ws_test", "qr.created", "{}")])
        let next = try #require(try await receiver.waitForRequests(count: 2).last)
        #expect(
            WebhookSignature.verify(header: next.header("X-QR3-Signature") ?? "", body: next.body, secret: second),
            "signed with the secret read from standard input, its CRLF dropped")

        let both = try await harness.runCLI(
            ["webhooks", "update", webhook, "--secret", "another-secret-0123456789", "--secret-file", file],
            expectSuccess: false)
        #expect(both.status != 0 && both.stderr.contains("not both"), "\(both.stderr)")
        let missing = try await harness.runCLI(
            ["webhooks", "update", webhook, "--secret-file", harness.directory.file("missing.txt")],
            expectSuccess: false)
        #expect(missing.status != 0 && missing.stderr.contains("cannot read the secret file"), "\(missing.stderr)")
        #expect(!daemon.log.contains(first) && !daemon.log.contains(second))
    }

    @Test func rotatedSecretsAndHeaderValuesNeverAppearInLogsListingsOrErrors() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let receiver = try await TestReceiver.start()
        defer { Task { try? await receiver.shutdown() } }
        let original = "first-" + Identifier.make("", length: 24)
        let rotatedTo = "second-" + Identifier.make("", length: 24)
        let headerValue = "Bearer hv-" + Identifier.make("", length: 24)
        let webhook = try await harness.addWebhook(url: receiver.url, secret: original)
        let file = harness.directory.file("rotated.txt")
        try rotatedTo.write(toFile: file, atomically: true, encoding: .utf8)
        var printed: [String] = []
        let daemon = try await harness.startDaemon(["--log-level", "trace"])
        defer { daemon.stop() }
        // The rotation prints its new secret once, as asked: only its standard error is an operator's log.
        let rotation = try await harness.runCLI([
            "webhooks", "rotate-secret", webhook, "--secret-file", file, "--overlap", "1h",
        ])
        #expect(rotation.stdout.contains(rotatedTo) && rotation.stdout.contains("still signs until"))
        printed.append(rotation.stderr)
        for arguments in [
            ["webhooks", "update", webhook, "--header", "Authorization: \(headerValue)"],
            ["webhooks", "show", webhook], ["webhooks", "show", webhook, "--json"], ["webhooks", "list", "--json"],
        ] {
            let result = try await harness.runCLI(arguments)
            printed += [result.stdout, result.stderr]
        }
        // A generated secret is printed once, by the rotation that makes it; remember it to look for leaks after.
        let generated = try await harness.runCLI(["webhooks", "rotate-secret", webhook, "--overlap", "1h", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(generated.stdout.utf8)) as? [String: Any]
        let generatedSecret = try #require(object?["secret"] as? String)
        try harness.insert([("ws_test", "qr.created", "{}")])
        let request = try #require(try await receiver.waitForRequests(count: 1).first)
        #expect(request.header("Authorization") == headerValue)
        #expect(request.header("webhook-signature")?.split(separator: " ").count == 2)
        try await daemon.waitForLog("Delivered")
        for arguments in [
            ["deliveries", webhook], ["deliveries", webhook, "--json"], ["webhooks", "show", webhook, "--json"],
            ["status", "--json"],
        ] {
            let result = try await harness.runCLI(arguments)
            printed += [result.stdout, result.stderr]
        }
        let refused = try await harness.runCLI(
            ["webhooks", "update", webhook, "--header", "X-QR3-Signature: \(headerValue)"], expectSuccess: false)
        #expect(refused.status != 0 && refused.stderr.contains("reserved"))
        printed += [refused.stdout, refused.stderr]
        daemon.send(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
        printed += [daemon.log, daemon.standardOutput]
        let everything = printed.joined(separator: "\n")
        #expect(everything.contains("Delivered"), "the debug log was captured")
        for secret in [original, rotatedTo, generatedSecret, headerValue] {
            #expect(!everything.contains(String(secret.suffix(16))), "a secret or header value was printed")
        }
    }

    @Test func theDatabaseTheDaemonCreatesIsReadableByItsOwnerOnly() async throws {
        let directory = try TemporaryDirectory(prefix: "qr3-modes")
        defer { directory.remove() }
        let path = directory.file("fresh.sqlite")
        let daemon = try DaemonProcess(arguments: ["run", "--database", path, "--log-level", "info", "--listen", "127.0.0.1:0"])
        defer { daemon.stop() }
        try await daemon.waitForLog("qr3-webhookd started")
        // A write makes SQLite create the -wal and -shm files, if the daemon has not yet.
        let result = try await runToolInBackground(
            DaemonProcess.executablePath,
            [
                "webhooks", "create", "--workspace", "ws", "--url", "https://example.com/hook", "--database", path,
            ])
        #expect(result.status == 0, "\(result.stderr)")
        // SQLite makes the -wal and -shm files when a connection first writes, and removes them
        // when the last connection closes: they may come a moment after the CLI's write (and a
        // full run once found the -wal missing). Each is looked for for up to 10 s; the file
        // itself must exist, and every one of them that does must be its owner's alone.
        for side in [path + "-wal", path + "-shm"] {
            for _ in 0..<100 where !FileManager.default.fileExists(atPath: side) {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(FileManager.default.fileExists(atPath: path))
        for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
            let attributes = try FileManager.default.attributesOfItem(atPath: file)
            let mode = (attributes[.posixPermissions] as? Int ?? 0o777) & 0o777
            #expect(mode & 0o077 == 0, "\(file) has mode \(String(mode, radix: 8))")
        }
        // The same for a database the CLI creates.
        let cliPath = directory.file("cli.sqlite")
        #expect(
            try await runToolInBackground(DaemonProcess.executablePath, ["migrate", "--database", cliPath]).status == 0)
        let mode =
            ((try FileManager.default.attributesOfItem(atPath: cliPath))[.posixPermissions] as? Int ?? 0o777) & 0o777
        #expect(mode & 0o077 == 0, "the CLI's database has mode \(String(mode, radix: 8))")
        daemon.send(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
    }
}
