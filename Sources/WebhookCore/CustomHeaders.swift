/// A webhook's own request headers (an `Authorization` for a receiver behind a gateway, say),
/// sent after the daemon's headers on every delivery.
///
/// The values are the customer's secrets: never logged, and shown as ``redacted`` in answers.
public struct CustomHeaders: Sendable, Hashable {
    /// One header as given: its name as written, and its value.
    public struct Header: Sendable, Hashable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The headers in the order given.
    public var headers: [Header]

    public init(_ headers: [Header] = []) {
        self.headers = headers
    }

    public var isEmpty: Bool { headers.isEmpty }

    /// What answers show instead of a header value (or a signature).
    public static let redacted = "[redacted]"
    /// The most headers a webhook may have.
    public static let maximumCount = 10
    /// The longest header name.
    public static let maximumNameLength = 64
    /// The longest header value.
    public static let maximumValueLength = 1024

    /// Names the daemon sets itself or libcurl manages (lower-case); `x-qr3-` and `webhook-` names
    /// are reserved as a whole.
    public static let reservedNames: Set<String> = [
        "content-type", "content-length", "host", "user-agent", "connection", "transfer-encoding", "expect",
        "keep-alive", "te", "trailer", "upgrade", "proxy-connection",
    ]
    /// Name prefixes reserved for the daemon's own headers (lower-case).
    public static let reservedPrefixes = ["x-qr3-", "webhook-"]

    /// Checks headers given as name and value pairs, in order: at most 10; names are HTTP tokens of
    /// at most 64 characters, not reserved and not given twice (in any case); values are at most
    /// 1024 visible ASCII characters and spaces, without leading or trailing space.
    ///
    /// - Throws: ``WebhookValidation/Invalid`` with `field` `headers` and a message naming the header.
    public static func validated(_ pairs: [(name: String, value: String)]) throws(WebhookValidation.Invalid)
        -> CustomHeaders
    {
        guard pairs.count <= maximumCount else {
            throw invalid("headers may hold at most \(maximumCount) headers (it has \(pairs.count))")
        }
        var seen = Set<String>()
        var headers: [Header] = []
        for (name, value) in pairs {
            let shown = String(name.prefix(maximumNameLength))
            guard !name.isEmpty, name.utf8.count <= maximumNameLength, name.utf8.allSatisfy(isTokenByte) else {
                throw invalid(
                    "header name \"\(shown)\" is not valid: use 1 to \(maximumNameLength) letters, digits and !#$%&'*+-.^_`|~"
                )
            }
            let lower = name.lowercased()
            guard !reservedNames.contains(lower), !reservedPrefixes.contains(where: lower.hasPrefix) else {
                throw invalid(
                    "header \"\(name)\" is reserved: the daemon sets Content-Type, Content-Length, Host, User-Agent, "
                        + "X-QR3-* and webhook-* itself (and libcurl the connection headers)")
            }
            guard seen.insert(lower).inserted else { throw invalid("header \"\(name)\" is given twice") }
            guard value.utf8.count <= maximumValueLength else {
                throw invalid("the value of header \"\(name)\" must be at most \(maximumValueLength) characters")
            }
            guard value.utf8.allSatisfy({ $0 == 0x20 || (0x21...0x7E).contains($0) }),
                value.utf8.first != 0x20, value.utf8.last != 0x20
            else {
                throw invalid(
                    "the value of header \"\(name)\" must be printable ASCII without leading or trailing spaces")
            }
            headers.append(Header(name: name, value: value))
        }
        return CustomHeaders(headers)
    }

    /// The header names, in order.
    public var names: [String] { headers.map(\.name) }

    /// The headers as `Name: value` request lines.
    public var lines: [String] { headers.map { $0.name + ": " + $0.value } }

    /// `{"Name":"[redacted]",...}`: the headers as answers show them.
    public static func redactedJSON(names: [String]) -> String {
        var object = JSONObjectWriter()
        for name in names { object.add(name, redacted) }
        return object.json
    }

    private static func invalid(_ message: String) -> WebhookValidation.Invalid {
        WebhookValidation.Invalid(field: "headers", message: message)
    }

    /// RFC 9110 `tchar`.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "a")...UInt8(ascii: "z"):
            true
        default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}
