import Testing
import WebhookCore

@Suite struct WebhookValidationTests {
    @Test func acceptsAbsoluteHTTPURLs() throws {
        let url = try WebhookValidation.validateURL("https://Example.com:8443/webhooks/qr3?x=1")
        #expect(url.scheme == "https")
        #expect(url.host == "example.com")
        #expect(url.port == 8443)
        #expect(!url.hasCredentials)
        #expect(try WebhookValidation.validateURL("http://[::1]:9000/hook").host == "::1")
        #expect(try WebhookValidation.validateURL("http://10.0.0.1").port == nil)
    }

    @Test func rejectsWhatCannotBeSentTo() {
        for bad in [
            "", "example.com/hook", "ftp://example.com/", "http://", "http:///path", "http://host:0/",
            "http://host:99999/",
            "http://exa mple.com/", "mailto:someone@example.com", "http://[::1/hook",
        ] {
            #expect(throws: WebhookValidation.Invalid.self, "\(bad)") { try WebhookValidation.validateURL(bad) }
        }
        let long = "https://example.com/" + String(repeating: "a", count: 2048)
        do {
            try WebhookValidation.validateURL(long)
            Issue.record("a URL over 2048 characters was accepted")
        } catch {
            #expect(error.message == "url must be at most 2048 characters")
        }
    }

    @Test func refusesCredentialsInTheURL() {
        do {
            try WebhookValidation.validateURL("https://user:pass@example.com/hook")
            Issue.record("credentials were accepted")
        } catch {
            #expect(error.field == "url")
            #expect(error.message.contains("user name or password"))
        }
    }

    @Test func checksSecretsAndWorkspaces() throws {
        #expect(throws: WebhookValidation.Invalid.self) { try WebhookValidation.validateSecret("too-short") }
        #expect(throws: WebhookValidation.Invalid.self) {
            try WebhookValidation.validateSecret(String(repeating: "s", count: 257))
        }
        try WebhookValidation.validateSecret("my-secret-key-min-16-chars")
        #expect(WebhookValidation.generateSecret().count >= 32)
        #expect(Webhook.hint(for: "my-secret-key-min-16-chars") == "my-s…")
        try WebhookValidation.validateWorkspace("ws_abc-1.2")
        #expect(throws: WebhookValidation.Invalid.self) { try WebhookValidation.validateWorkspace("ws 1") }
        #expect(throws: WebhookValidation.Invalid.self) { try WebhookValidation.validateWorkspace("") }
    }
}
