import Foundation
import Testing
import WebhookCore

@Suite struct SignatureVerificationTests {
    static let secret = "my-secret-key-min-16-chars"

    /// Canonical bodies that are awkward for a receiver: escapes, raw Unicode, lone surrogates, odd numbers.
    static let bodies: [String] = [
        #"{"id":"evt_abc123xyz","type":"qr.scanned","created":"2026-03-15T10:00:00.000Z","data":{"code_id":"qr_1"}}"#,
        #"{"url":"https://example.com/a/b?c=d&e=f","quote":"\"","backslash":"\\"}"#,
        #"{"name":"Müller 中文 😀","ls":"\u2028"}"#.replacingOccurrences(of: #"\u2028"#, with: "\u{2028}"),
        #"{"control":"\u0000\u001f\b\f\n\r\t","del":"\u007f"}"#.replacingOccurrences(of: #"\u007f"#, with: "\u{7F}"),
        #"{"lone":"\ud800","low":"\udfff","pair":"😀"}"#,
        #"{"1":1,"2":2,"b":[1.5,1e+21,1e-7,0.000001,12345678901234567000,-1.7976931348623157e+308,null]}"#,
        #"{"nested":{"a":[{"b":{"c":[true,false,null]}}]},"empty":{},"list":[]}"#,
        "{}",
    ]

    // MARK: HMAC

    @Test func matchesRFC4231TestVectors() {
        let case1 = WebhookSignature.header(
            body: Array("Hi There".utf8),
            secret: String(repeating: "\u{0B}", count: 20)
        )
        #expect(case1 == "sha256=b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        let case2 = WebhookSignature.header(body: Array("what do ya want for nothing?".utf8), secret: "Jefe")
        #expect(case2 == "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        // A key longer than SHA-256's block is hashed first (values from Python's hmac module).
        let long = WebhookSignature.header(
            body: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
            secret: String(repeating: "k", count: 131)
        )
        #expect(long == "sha256=70e4b005732fa7ff79392aa24fb240159b925dbc9f1398420c0f45e6763dcf14")
        let block = WebhookSignature.header(
            body: Array("exactly one block".utf8), secret: String(repeating: "k", count: 64))
        #expect(block == "sha256=521b48c3c879586f93e372c93d693664ea7a718f14e1a7eae1730b9ea2928b3b")
    }

    @Test func signsEmptyAndNonContiguousInput() {
        #expect(
            WebhookSignature.header(body: [UInt8](), secret: "")
                == "sha256=b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"
        )
        let body = Array(Self.bodies[2].utf8)
        #expect(
            WebhookSignature.header(body: body.lazy.map { $0 }, secret: Self.secret)
                == WebhookSignature.header(body: body, secret: Self.secret)
        )
    }

    @Test func verifyAcceptsOnlyTheExactSignature() {
        let body = Array(Self.bodies[0].utf8)
        let header = WebhookSignature.header(body: body, secret: Self.secret)
        #expect(header.hasPrefix("sha256=") && header.count == 71)
        #expect(header == header.lowercased())
        #expect(WebhookSignature.verify(header: header, body: body, secret: Self.secret))
        #expect(
            WebhookSignature.verify(
                header: header.uppercased().replacingOccurrences(of: "SHA256=", with: "sha256="),
                body: body,
                secret: Self.secret
            )
        )
        #expect(!WebhookSignature.verify(header: header, body: body + [0x20], secret: Self.secret))
        #expect(!WebhookSignature.verify(header: header, body: body, secret: Self.secret + "x"))
        #expect(!WebhookSignature.verify(header: String(header.dropFirst(7)), body: body, secret: Self.secret))
        #expect(!WebhookSignature.verify(header: String(header.dropLast()), body: body, secret: Self.secret))
        #expect(!WebhookSignature.verify(header: String(header.dropLast()) + "g", body: body, secret: Self.secret))
        #expect(!WebhookSignature.verify(header: "", body: body, secret: Self.secret))
    }

    // MARK: The documented receivers

    @Test(.timeLimit(.minutes(1))) func documentedSnippetsAcceptOurSignatures() async throws {
        let secrets = [Self.secret, "sécret-ключ-🔑-123456", "with \"quotes\" and \\ slashes"]
        var cases: [(secret: String, body: [UInt8], header: String, valid: Bool)] = []
        for secret in secrets {
            for body in Self.bodies {
                let canonical = try CanonicalJSON.canonicalize(body)
                #expect(canonical.text == body, "test body is not canonical: \(body)")
                let header = WebhookSignature.header(body: canonical.bytes, secret: secret)
                cases.append((secret, canonical.bytes, header, true))
                cases.append(
                    (secret, Array(canonical.text.replacingOccurrences(of: "}", with: ",\"x\":1}").utf8), header, false)
                )
                cases.append(
                    (
                        secret, canonical.bytes, WebhookSignature.header(body: canonical.bytes, secret: secret + "!"),
                        false
                    )
                )
            }
        }
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let input = scratch.file("cases.b64")
        let lines = cases.map { entry in
            [Data(entry.secret.utf8), Data(entry.body), Data(entry.header.utf8)]
                .map { $0.base64EncodedString() }.joined(separator: " ") + "\n"
        }
        try Data(lines.joined().utf8).write(to: input)

        let node = try await FinishedProcess.run("node", [Fixtures.path("receivers/check-node.js"), input.path])
        let python = try await FinishedProcess.run("python3", [Fixtures.path("receivers/check_python.py"), input.path])
        for (name, run) in [("node", node), ("python", python)] {
            try #require(run.status == 0, "\(name) failed: \(run.stderr)")
            let answers = run.stdout.split(separator: "\n")
            try #require(answers.count == cases.count, "\(name) answered \(answers.count) of \(cases.count)")
            for (entry, answer) in zip(cases, answers) {
                #expect(
                    answer == (entry.valid ? "valid" : "invalid"),
                    "\(name) said \(answer) for \(String(decoding: entry.body, as: UTF8.self))"
                )
            }
        }
    }

    @Test(.timeLimit(.minutes(1)), arguments: ["node", "python3"])
    func httpReceiverVerifiesSignedRequests(runtime: String) async throws {
        let script = runtime == "node" ? "receivers/verify-node.js" : "receivers/verify_python.py"
        let receiver = try LineProcess(runtime, [Fixtures.path(script), Self.secret])
        var lines = receiver.lines.makeAsyncIterator()
        do {
            let ready = try #require(await lines.next())
            let port = try #require(ready.hasPrefix("LISTENING ") ? Int(ready.dropFirst(10)) : nil, "\(ready)")
            for (index, body) in Self.bodies.enumerated() {
                let bytes = Array(body.utf8)
                let header = WebhookSignature.header(body: bytes, secret: Self.secret)
                let eventID = "evt_\(index)"
                let status = try LoopbackHTTP.post(
                    port: port,
                    headers: [("X-QR3-Signature", header), ("X-QR3-Event-Id", eventID)],
                    body: bytes
                )
                #expect(status == 200, "\(runtime) refused \(body)")
                let record = try ReceiverRecord(try #require(await lines.next()))
                #expect(record == ReceiverRecord(valid: true, eventID: eventID, body: body))
            }
            let body = Self.bodies[0]
            let wrong = WebhookSignature.header(body: Array(body.utf8), secret: Self.secret + "x")
            #expect(
                try LoopbackHTTP.post(port: port, headers: [("X-QR3-Signature", wrong)], body: Array(body.utf8)) == 400
            )
            #expect(
                try ReceiverRecord(try #require(await lines.next()))
                    == ReceiverRecord(valid: false, eventID: nil, body: body)
            )
            #expect(try LoopbackHTTP.post(port: port, headers: [], body: Array(body.utf8)) == 400)
            #expect(try ReceiverRecord(try #require(await lines.next())).valid == false)
        } catch {
            receiver.kill()
            throw error
        }
        #expect(await receiver.terminate(), "\(runtime) receiver did not exit cleanly on SIGTERM")
    }
}

/// One JSON line a fixture receiver prints per request.
struct ReceiverRecord: Equatable {
    var valid: Bool
    var eventID: String?
    var body: String

    init(valid: Bool, eventID: String?, body: String) {
        self.valid = valid
        self.eventID = eventID
        self.body = body
    }

    init(_ line: String) throws {
        let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        valid = try #require(object["valid"] as? Bool, "\(line)")
        eventID = object["event_id"] as? String
        body = try #require(object["body"] as? String, "\(line)")
    }
}
