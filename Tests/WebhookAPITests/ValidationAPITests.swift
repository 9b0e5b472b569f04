import Testing
import WebhookAPI
import WebhookTestSupport

/// One request body and the error it must get.
struct InvalidBody: Sendable, CustomTestStringConvertible {
    let body: String
    let status: Int
    let code: String
    let field: String?
    /// A part of the message a person reads.
    let says: String

    var testDescription: String { "\(code): \(body.prefix(80))" }
}

@Suite(.timeLimit(.minutes(1))) struct ValidationAPITests {
    static let longURL = "https://example.com/" + String(repeating: "a", count: 2029)

    static let createCases: [InvalidBody] = [
        InvalidBody(
            body: #"{"url":"ftp://example.com/h","events":["*"]}"#, status: 422, code: "invalid_value", field: "url",
            says: "http:// or https://"),
        InvalidBody(
            body: #"{"url":"/webhooks","events":["*"]}"#, status: 422, code: "invalid_value", field: "url",
            says: "absolute"),
        InvalidBody(
            body: #"{"url":"https://","events":["*"]}"#, status: 422, code: "invalid_value", field: "url",
            says: "with a host"),
        InvalidBody(
            body: #"{"url":"","events":["*"]}"#, status: 422, code: "invalid_value", field: "url",
            says: "must not be empty"),
        InvalidBody(
            body: #"{"url":"https://user:pw@example.com/h","events":["*"]}"#, status: 422, code: "invalid_value",
            field: "url", says: "user name or password"),
        InvalidBody(
            body: #"{"url":"\#(longURL)","events":["*"]}"#, status: 422, code: "invalid_value", field: "url",
            says: "at most 2048 characters"),
        InvalidBody(
            body: #"{"url":"https://exa mple.com/","events":["*"]}"#, status: 422, code: "invalid_value", field: "url",
            says: "absolute"),
        InvalidBody(
            body: #"{"url":"https://example.com/h","events":[]}"#, status: 422, code: "invalid_value", field: "events",
            says: "at least one event type"),
        InvalidBody(
            body: #"{"url":"https://example.com/h","events":["qr.bogus"]}"#, status: 422, code: "invalid_value",
            field: "events", says: "unknown event type \"qr.bogus\""),
        InvalidBody(
            body: #"{"url":"https://example.com/h","events":"qr.scanned"}"#, status: 422, code: "invalid_type",
            field: "events", says: "events must be an array of strings, not a string"),
        InvalidBody(
            body: #"{"url":"https://example.com/h","events":[1]}"#, status: 422, code: "invalid_type", field: "events",
            says: "events[0] must be a string"),
        InvalidBody(
            body: #"{"url":42,"events":["*"]}"#, status: 422, code: "invalid_type", field: "url",
            says: "url must be a string, not a number"),
        InvalidBody(
            body: #"{"url":null,"events":["*"]}"#, status: 422, code: "invalid_type", field: "url", says: "not a null"),
        InvalidBody(
            body: #"{"events":["*"]}"#, status: 422, code: "missing_field", field: "url", says: "url is required"),
        InvalidBody(
            body: #"{"url":"https://example.com/h"}"#, status: 422, code: "missing_field", field: "events",
            says: "events is required"),
        InvalidBody(
            body: #"{"url":"https://example.com/h","events":["*"],"secret":"short"}"#, status: 422,
            code: "invalid_value", field: "secret", says: "secret must be at least 16 characters"),
        InvalidBody(
            body: #"{"url":"https://example.com/h","events":["*"],"secret":"\#(String(repeating: "s", count: 257))"}"#,
            status: 422, code: "invalid_value", field: "secret", says: "at most 256 characters"),
        InvalidBody(
            body: #"{"url":"https://example.com/h","events":["*"],"secret":"sixteen-chars-\u0000-x"}"#, status: 422,
            code: "invalid_value", field: "secret", says: "control characters"),
        InvalidBody(
            body: #"{"url":"https://example.com/h","events":["*"],"secret":1234567890123456}"#, status: 422,
            code: "invalid_type", field: "secret", says: "secret must be a string"),
        InvalidBody(
            body: #"{"url":"https://example.com/h","events":["*"],"is_active":true}"#, status: 422,
            code: "unknown_field", field: "is_active", says: "unknown field \"is_active\""),
        InvalidBody(
            body: #"{"url":"https://example.com/h","events":["*"],"colour":"red"}"#, status: 422, code: "unknown_field",
            field: "colour", says: "the fields are url, events, secret"),
        InvalidBody(
            body: #"{"url":"https://example.com/h","url":"https://example.org/","events":["*"]}"#, status: 422,
            code: "invalid_value", field: "url", says: "given twice"),
        InvalidBody(
            body: #"{"url":"https://example.com/h","events":["*"]"#, status: 400, code: "invalid_json", field: nil,
            says: "not valid JSON"),
        InvalidBody(
            body: #"{'url':'https://example.com/h'}"#, status: 400, code: "invalid_json", field: nil,
            says: "not valid JSON"),
        InvalidBody(
            body: #"{"url":"https://example.com/h","events":["*"],}"#, status: 400, code: "invalid_json", field: nil,
            says: "not valid JSON"),
        InvalidBody(body: "", status: 400, code: "invalid_json", field: nil, says: "empty"),
        InvalidBody(
            body: #"["https://example.com/h"]"#, status: 422, code: "invalid_type", field: nil,
            says: "must be a JSON object, not an array"),
        InvalidBody(body: "null", status: 422, code: "invalid_type", field: nil, says: "must be a JSON object"),
    ]

    @Test(arguments: createCases) func createRefusesWithAClearError(_ invalid: InvalidBody) async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let response = try await server.send("POST", "/v1/webhooks", json: invalid.body, key: key)
            #expect(response.status == invalid.status, "\(response.text)")
            #expect(response.errorCode == invalid.code, "\(response.text)")
            #expect(response.errorField == invalid.field, "\(response.text)")
            #expect(response.errorMessage.contains(invalid.says), "\(response.errorMessage)")
            #expect(try await server.send("GET", "/v1/webhooks", key: key).data.isEmpty, "nothing was created")
        }
    }

    static let refusedHosts = [
        "127.0.0.1", "10.1.2.3", "192.168.0.10", "172.16.5.4", "169.254.169.254", "100.64.0.1", "0.0.0.0",
        "2130706433", "0x7f.0.0.1", "0x7f000001", "0177.0.0.1", "127.1", "10.1", "[::1]", "[::ffff:127.0.0.1]",
        "[::ffff:a00:1]", "[fe80::1]", "[fd00::5]", "[::]", "localhost", "api.localhost", "127.0.0.1.",
    ]

    @Test func literalPrivateAndLoopbackAddressesAreRefusedAtCreationAndUpdate() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let id = try await server.createWebhook(key: key)
            for host in Self.refusedHosts {
                let url = "http://\(host):8080/hook"
                let created = try await server.send(
                    "POST", "/v1/webhooks", json: #"{"url":"\#(url)","events":["*"]}"#, key: key)
                #expect(created.status == 422, "\(host): \(created.text)")
                #expect(created.errorCode == "url_not_allowed", "\(host): \(created.text)")
                #expect(created.errorField == "url")
                #expect(created.errorMessage.contains("allow-networks"), "\(created.errorMessage)")
                let updated = try await server.send(
                    "PATCH", "/v1/webhooks/\(id)", json: #"{"url":"\#(url)"}"#, key: key)
                #expect(updated.errorCode == "url_not_allowed", "\(host): \(updated.text)")
            }
            let bad = try await server.send(
                "POST", "/v1/webhooks", json: #"{"url":"http://[zz::1]/","events":["*"]}"#, key: key)
            #expect(bad.status == 422)
            for host in ["example.com", "93.184.216.34", "[2606:2800:220:1:248:1893:25c8:1946]", "0x5db8d822.example"] {
                let created = try await server.send(
                    "POST", "/v1/webhooks", json: #"{"url":"https://\#(host)/h","events":["*"]}"#, key: key)
                #expect(created.status == 201, "\(host): \(created.text)")
            }
        }
    }

    @Test func allowNetworksLetsAnOperatorAcceptPrivateAddresses() async throws {
        try await withAPIServer(allowing: ["127.0.0.0/8", "::1/128"]) { server in
            let key = try await server.key(for: "ws_1")
            for url in [
                "http://127.0.0.1:9/hook", "http://[::1]:9/hook", "http://localhost:9/hook", "http://2130706433/",
            ] {
                let created = try await server.send(
                    "POST", "/v1/webhooks", json: #"{"url":"\#(url)","events":["*"]}"#, key: key)
                #expect(created.status == 201, "\(url): \(created.text)")
            }
            let other = try await server.send(
                "POST", "/v1/webhooks", json: #"{"url":"http://10.0.0.1/","events":["*"]}"#, key: key)
            #expect(other.errorCode == "url_not_allowed")
        }
    }

    @Test func updateValidatesLikeCreate() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let id = try await server.createWebhook(key: key)
            let cases: [(String, Int, String, String?)] = [
                ("{}", 422, "missing_field", nil),
                (#"{"is_active":"yes"}"#, 422, "invalid_type", "is_active"),
                (#"{"secret":"tiny"}"#, 422, "invalid_value", "secret"),
                (#"{"events":[]}"#, 422, "invalid_value", "events"),
                (#"{"url":"mailto:x@example.com"}"#, 422, "invalid_value", "url"),
                (#"{"workspace_id":"ws_2"}"#, 422, "unknown_field", "workspace_id"),
                (#"{"secret":null}"#, 422, "invalid_type", "secret"),
                ("[", 400, "invalid_json", nil),
            ]
            for (body, status, code, field) in cases {
                let response = try await server.send("PATCH", "/v1/webhooks/\(id)", json: body, key: key)
                #expect(response.status == status, "\(body): \(response.text)")
                #expect(response.errorCode == code, "\(body): \(response.text)")
                #expect(response.errorField == field, "\(body): \(response.text)")
            }
            let unchanged = try await server.send("GET", "/v1/webhooks/\(id)", key: key)
            #expect(unchanged.json["url"] == .string("https://example.com/hook"))
        }
    }

    @Test func anOversizedBodyGets413() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let padding = String(repeating: "x", count: 70_000)
            let response = try await server.send(
                "POST", "/v1/webhooks", json: #"{"url":"https://example.com/\#(padding)","events":["*"]}"#, key: key
            )
            #expect(response.status == 413, "\(response.text.prefix(300))")
            #expect(response.errorCode == "body_too_large")
            #expect(try await server.send("GET", "/v1/webhooks", key: key).status == 200, "the server still answers")
        }
    }

    @Test func queryParametersAreChecked() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let id = try await server.createWebhook(key: key)
            let cases: [(String, String)] = [
                ("/v1/webhooks?limit=0", "limit"), ("/v1/webhooks?limit=101", "limit"),
                ("/v1/webhooks?limit=ten", "limit"),
                ("/v1/webhooks?limit=99999999999999999999999", "limit"), ("/v1/webhooks?limt=5", "limt"),
                ("/v1/webhooks?limit=5&limit=6", "limit"), ("/v1/webhooks/\(id)/deliveries?status=ok", "status"),
                ("/v1/webhooks/\(id)/deliveries?event_type=qr.nope", "event_type"),
                ("/v1/webhooks/\(id)/deliveries?starting_after=whd_missing", "starting_after"),
                ("/v1/webhooks/\(id)?expand=all", "expand"),
            ]
            for (path, field) in cases {
                let response = try await server.send("GET", path, key: key)
                #expect(response.status == 400, "\(path): \(response.text)")
                #expect(response.errorCode == "invalid_parameter", "\(path): \(response.text)")
                #expect(response.errorField == field, "\(path): \(response.text)")
            }
        }
    }

    @Test func unknownRoutesGet404AndWrongMethods405() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let id = try await server.createWebhook(key: key)
            for path in ["/", "/v2/webhooks", "/healthz/x", "/webhooks"] {
                let response = try await server.send("GET", path, key: key)
                #expect(response.status == 404, "\(path): \(response.text)")
                #expect(response.errorCode == "not_found")
            }
            let unknownV1 = try await server.send("GET", "/v1/nothing-here", key: key)
            #expect(unknownV1.status == 404)
            let wrong: [(String, String, String)] = [
                ("PUT", "/v1/webhooks", "POST, GET"), ("DELETE", "/v1/webhooks", "POST, GET"),
                ("POST", "/v1/webhooks/\(id)", "GET, PATCH, DELETE"), ("GET", "/v1/webhooks/\(id)/ping", "POST"),
                ("POST", "/healthz", "GET"), ("OPTIONS", "/v1/events", "POST"),
            ]
            for (method, path, allow) in wrong {
                let response = try await server.send(method, path, key: key)
                #expect(response.status == 405, "\(method) \(path): \(response.text)")
                #expect(response.errorCode == "method_not_allowed")
                #expect(response.raw.header("Allow") == allow)
            }
        }
    }

    @Test func hostileInputNeverProducesA5xx() async throws {
        try await withAPIServer { server in
            let key = try await server.key(for: "ws_1")
            let id = try await server.createWebhook(key: key)
            let bodies: [[UInt8]] = [
                Array(String(repeating: "[", count: 100_000).utf8),
                Array(#"{"url":"https://example.com/\ud800","events":["*"]}"#.utf8),
                Array(#"{"url":1e999999,"events":["*"]}"#.utf8),
                [0xFF, 0xFE, 0x7B, 0x7D],
                Array("\u{FEFF}{}".utf8),
                [0x7B, 0x22, 0x75, 0x72, 0x6C, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0x22, 0x7D],
                Array(#"{"url":"https://[::1%25eth0]/","events":["*"]}"#.utf8),
                Array(#"{"url":"https://example.com:99999/","events":["*"]}"#.utf8),
                Array(#"{"url":"http://0x.0x.0x.0x/","events":["*"]}"#.utf8),
                Array(#"{"url":"http://99999999999999999999/","events":["*"]}"#.utf8),
                Array(#"{"events":["*","*","*"],"url":"https://example.com/\u0000"}"#.utf8),
                Array(#"{"type":"qr.scanned","data":{"a":[[[[[[[[]]]]]]]]}}"#.utf8),
            ]
            for body in bodies {
                for (method, path) in [
                    ("POST", "/v1/webhooks"), ("PATCH", "/v1/webhooks/\(id)"), ("POST", "/v1/events"),
                    ("POST", "/v1/webhooks/\(id)/ping"),
                ] {
                    let response = try await server.send(
                        method, path, body: body, key: key, headers: [("Content-Type", "application/json")])
                    #expect(response.status < 500, "\(method) \(path): \(response.text)")
                }
            }
            for path in [
                "/v1/webhooks/%00", "/v1/webhooks/" + String(repeating: "x", count: 5000),
                "/v1/webhooks/'%20OR%201=1--",
                "/v1/webhooks?starting_after=%FF", "/v1/webhooks/\(id)/deliveries?event_id=%00&limit=1",
                "/v1/webhooks/\(id)/deliveries/whd_x/retry", "/v1/webhooks//deliveries",
            ] {
                let response = try await server.send(path.hasSuffix("retry") ? "POST" : "GET", path, key: key)
                #expect(response.status < 500, "\(path): \(response.text)")
            }
        }
    }
}
