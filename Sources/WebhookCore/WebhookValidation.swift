/// Checks on what callers give for a webhook, with messages that say what is wrong.
public enum WebhookValidation {
    /// The longest URL accepted.
    public static let maximumURLLength = 2048
    /// The allowed secret lengths.
    public static let secretLengths = 16...256

    /// A value that fails a check; `field` names the input, `message` says what is wrong.
    public struct Invalid: Error, Sendable, Hashable, CustomStringConvertible {
        public let field: String
        public let message: String

        public init(field: String, message: String) {
            self.field = field
            self.message = message
        }

        public var description: String { message }
    }

    /// Checks a webhook URL: absolute http(s), a host, no credentials, at most 2048 characters.
    ///
    /// - Returns: the parsed URL, whose `host` the caller can check against an address policy.
    @discardableResult
    public static func validateURL(_ url: String) throws(Invalid) -> WebhookURL {
        guard !url.isEmpty else { throw Invalid(field: "url", message: "url must not be empty") }
        guard url.utf8.count <= maximumURLLength else {
            throw Invalid(field: "url", message: "url must be at most \(maximumURLLength) characters")
        }
        guard let parsed = WebhookURL(url) else {
            throw Invalid(
                field: "url",
                message:
                    "url must be an absolute http:// or https:// URL with a host, like https://example.com/webhooks"
            )
        }
        if parsed.hasCredentials {
            throw Invalid(field: "url", message: "url must not contain a user name or password")
        }
        return parsed
    }

    /// Checks a secret: 16 to 256 characters (Unicode code points, as the database counts them), no
    /// control characters, and for a `whsec_` secret valid base64 after the prefix.
    public static func validateSecret(_ secret: String) throws(Invalid) {
        let length = secret.unicodeScalars.count
        guard length >= secretLengths.lowerBound else {
            throw Invalid(
                field: "secret",
                message: "secret must be at least \(secretLengths.lowerBound) characters (it has \(length))"
            )
        }
        guard length <= secretLengths.upperBound else {
            throw Invalid(
                field: "secret",
                message: "secret must be at most \(secretLengths.upperBound) characters (it has \(length))"
            )
        }
        guard !secret.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw Invalid(field: "secret", message: "secret must not contain control characters")
        }
        try validateSecretForm(secret)
    }

    /// Checks a workspace id: 1 to 128 characters of letters, digits, `_`, `-` and `.`.
    public static func validateWorkspace(_ workspace: String) throws(Invalid) {
        guard (1...128).contains(workspace.utf8.count),
            workspace.utf8.allSatisfy({ byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == 0x5F || byte == 0x2D || byte == 0x2E
            })
        else {
            throw Invalid(
                field: "workspace",
                message: "workspace must be 1 to 128 characters of letters, digits, '_', '-' and '.'"
            )
        }
    }

    /// A new random secret for a webhook created without one: `whsec_` and the base64 of 24 random
    /// bytes (192 bits), the form the Standard Webhooks libraries take as key bytes.
    public static func generateSecret() -> String {
        var generator = PooledRandom()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        for _ in 0..<3 {
            withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) }
        }
        return StandardWebhookSignature.Key.prefix + Base64.encode(bytes)
    }

    /// Checks a secret that starts with `whsec_`: the rest must be base64 of at least 16 bytes, as
    /// the Standard Webhooks libraries read it; other secrets are used as their UTF-8 bytes.
    public static func validateSecretForm(_ secret: String) throws(Invalid) {
        let prefix = StandardWebhookSignature.Key.prefix
        guard secret.hasPrefix(prefix) else { return }
        guard let key = Base64.decode(secret.dropFirst(prefix.count)), key.count >= 16 else {
            throw Invalid(
                field: "secret",
                message:
                    "a secret starting with whsec_ must continue with the base64 of at least 16 bytes (Standard Webhooks libraries decode it); leave secret out to have one generated"
            )
        }
    }
}

/// The parts of a webhook URL the daemon cares about.
public struct WebhookURL: Sendable, Hashable {
    /// `http` or `https`, lower-cased.
    public let scheme: String
    /// The host as written: a name, an IPv4 literal or an IPv6 literal without brackets.
    public let host: String
    /// The port if one is written.
    public let port: Int?
    /// Whether the authority holds `user[:password]@`.
    public let hasCredentials: Bool

    /// Parses an absolute http(s) URL; `nil` when it is not one.
    public init?(_ text: String) {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let scheme = text[..<colon].lowercased()
        guard scheme == "http" || scheme == "https", text[colon...].hasPrefix("://") else { return nil }
        let rest = text[text.index(colon, offsetBy: 3)...]
        let delimiters: Set<Character> = ["/", "?", "#"]
        let authorityEnd = rest.firstIndex(where: delimiters.contains) ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        guard !authority.isEmpty,
            !text.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F })
        else { return nil }
        var credentials = false
        if let at = authority.lastIndex(of: "@") {
            credentials = true
            authority = authority[authority.index(after: at)...]
        }
        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { return nil }
        var port: Int?
        if let portText {
            guard !portText.isEmpty, let value = Int(portText), (1...65535).contains(value) else { return nil }
            port = value
        }
        self.scheme = scheme
        self.host = host.lowercased()
        self.port = port
        self.hasCredentials = credentials
    }
}
