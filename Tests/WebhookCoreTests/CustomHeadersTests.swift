import Testing
import WebhookCore

@Suite struct CustomHeadersTests {
    @Test func acceptsOrdinaryHeadersInOrder() throws {
        let headers = try CustomHeaders.validated([("Authorization", "Bearer abc.def"), ("X-Env", "prod")])
        #expect(headers.names == ["Authorization", "X-Env"])
        #expect(headers.lines == ["Authorization: Bearer abc.def", "X-Env: prod"])
        #expect(try CustomHeaders.validated([]).isEmpty)
    }

    @Test(arguments: [
        "Content-Type", "content-length", "Host", "USER-AGENT", "X-QR3-Signature", "x-qr3-anything", "webhook-id",
        "Webhook-Signature", "Transfer-Encoding", "Connection",
    ])
    func refusesReservedNamesNamingTheHeader(name: String) {
        #expect {
            try CustomHeaders.validated([(name, "x")])
        } throws: { error in
            let invalid = error as? WebhookValidation.Invalid
            return invalid?.field == "headers" && invalid?.message.contains("\"\(name)\" is reserved") == true
        }
    }

    @Test func refusesBadNamesValuesAndTooMany() {
        let bad: [[(String, String)]] = [
            [("", "x")], [("Bad Name", "x")], [("Bad:Name", "x")], [(String(repeating: "a", count: 65), "x")],
            [("X-A", "line\r\nX-Injected: 1")], [("X-A", "nul\u{0}")], [("X-A", " padded")], [("X-A", "tab\there")],
            [("X-A", "ü")], [("X-A", String(repeating: "v", count: 1025))], [("X-A", "1"), ("x-a", "2")],
            (0..<11).map { ("X-H\($0)", "v") },
        ]
        for pairs in bad {
            #expect(throws: WebhookValidation.Invalid.self, "\(pairs)") { try CustomHeaders.validated(pairs) }
        }
    }
}
