import Foundation
import Testing
import WebhookCore

/// Compares `CanonicalJSON` with the real thing: `JSON.stringify(JSON.parse(text))` in Node.
@Suite struct CanonicalJSONNodeTests {
    @Test(.timeLimit(.minutes(2))) func matchesNodeByteForByte() async throws {
        var generator = AwkwardJSON(seed: 0x51_52_33)
        let documents = AwkwardJSON.handWritten + (0..<400).map { _ in generator.document() }
        let answers = try await NodeStringify.run(documents)
        try #require(answers.count == documents.count)
        var mismatches = 0
        for (document, answer) in zip(documents, answers) {
            let ours = try CanonicalJSON.canonicalize(document)
            guard case .canonical(let node) = answer else {
                Issue.record("Node rejected a document we accept: \(document)")
                continue
            }
            if ours.bytes != node {
                mismatches += 1
                Issue.record(
                    "input:  \(document)\nours:   \(ours.text)\nnode:   \(String(decoding: node, as: UTF8.self))"
                )
            }
            #expect(try CanonicalJSON.canonicalize(ours.bytes) == ours, "not a fixed point: \(ours.text)")
        }
        #expect(mismatches == 0)
    }

    @Test(.timeLimit(.minutes(2))) func numbersMatchNode() async throws {
        var generator = AwkwardJSON(seed: 0x4E_55_4D)
        let numbers = (0..<5000).map { _ in generator.number() }
        let documents = numbers.map { "[\($0)]" }
        let answers = try await NodeStringify.run(documents)
        try #require(answers.count == documents.count)
        for (document, answer) in zip(documents, answers) {
            let ours = try CanonicalJSON.canonicalize(document).bytes
            #expect(answer == .canonical(ours), "\(document) became \(String(decoding: ours, as: UTF8.self))")
        }
    }

    @Test(.timeLimit(.minutes(1))) func nodeRejectsWhatWeRejectForGrammar() async throws {
        let invalid = [
            #"{"a":1,}"#, "[1,]", "{'a':1}", "[01]", "[+1]", "[.5]", "[1.]", "[1e]", "NaN", "[Infinity]", "[-]",
            #"{"a":1} x"#, "[1] // c", "/* c */ 1", #""\x""#, #""\u12""#, "\"a\tb\"", "\"\u{1}\"", "\u{FEFF}{}",
            "{a:1}", "[1 2]", #"{"a" 1}"#, "", "[True]", "\u{A0}1",
        ]
        let answers = try await NodeStringify.run(invalid)
        try #require(answers.count == invalid.count)
        for (document, answer) in zip(invalid, answers) {
            #expect(answer == .rejected, "Node accepted \(document)")
            #expect(throws: CanonicalJSONError.self, "we accepted \(document)") {
                try CanonicalJSON.canonicalize(document)
            }
        }
    }
}

/// Runs `Tests/Fixtures/canonical/stringify-lines.js` once over many documents.
enum NodeStringify {
    enum Answer: Equatable {
        case canonical([UInt8])
        case rejected
    }

    static func run(_ documents: [String]) async throws -> [Answer] {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let input = scratch.file("documents.b64")
        let lines = documents.map { Data($0.utf8).base64EncodedString() + "\n" }.joined()
        try Data(lines.utf8).write(to: input)
        let node = try await FinishedProcess.run("node", [Fixtures.path("canonical/stringify-lines.js"), input.path])
        try #require(node.status == 0, "node failed: \(node.stderr)")
        return node.stdout.split(separator: "\n").map { line in
            line == "ERR" ? .rejected : .canonical(Array(Data(base64Encoded: String(line)) ?? Data()))
        }
    }
}

/// A reproducible generator of valid but awkward JSON texts: odd escapes, surrogates, control characters,
/// numbers at the edges of the double format, duplicate and integer-like keys, random whitespace and nesting.
struct AwkwardJSON {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    static let handWritten: [String] = [
        #"{"a":"x/y","b":"x\/y","c":"\"\\"}"#,
        #"{"emoji":"😀","escaped":"\ud83d\ude00","upper":"\uD83D\uDE00","lone":"\ud800","low":"\uDFFF"}"#,
        #"{"reversed":"\udc00\ud800","doubled":"\ud83d\ud83d\ude00","then":"\ud83dx\ude00"}"#,
        #"{"controls":"\u0000\u0001\u0007\b\t\n\u000b\f\r\u000e\u001f","del":"\u007f","ls":"\u2028\u2029"}"#,
        "{\"raw\":\"\u{7F}\u{2028}\u{2029}\u{FEFF}\u{FFFF}\u{10FFFF}é中\"}",
        #"{"n":[1.50,1e21,1e20,1E-7,0.000001,0.0000001,-0,-0.0,12345678901234567890,123456789012345678901234]}"#,
        #"{"n":[0.1,0.2,0.30000000000000004,1.7976931348623157e308,1e400,-1e400,5e-324,1e-400,2.5e-324]}"#,
        #"{"n":[9007199254740991,9007199254740993,1e15,1e16,1e17,123e-20,0.1e1,100e-2,1E+0]}"#,
        #"{"b":1,"a":2,"1":3,"0":4,"01":5,"-1":6,"1.0":7,"4294967294":8,"4294967295":9,"a":10}"#,
        #"{"__proto__":{"x":1},"constructor":2,"":3,"toString":4}"#,
        #"{"a":{"b":{"c":{"d":[[[{"2":1,"1":2}]]]}}},"a":1}"#,
        #"[1,"2",true,false,null,{},[],{"":[]}]"#,
        #""just a string""#, "42", "-0", "true", "null", "[]", "{}", " \t\r\n[ ] ",
    ]

    private static let keys = [
        "a", "b", "id", "data", "0", "1", "7", "42", "10", "01", "-1", "1.0", "1e3", " 1", "4294967294",
        "4294967295", "9007199254740993", "__proto__", "", "é", "\\u0030", "\\u0061", "key/with/slash",
        "\\ud800", "\\ud83d\\ude00", "😀",
    ]

    private static let numbers = [
        "0", "-0", "1", "-1", "1.50", "1e21", "1e20", "1E-7", "1e-7", "0.000001", "0.0000001", "-0.0",
        "12345678901234567890", "123456789012345678901234", "0.1", "0.2", "0.30000000000000004", "1e400",
        "-1e400", "5e-324", "1.7976931348623157e308", "2.2250738585072014e-308", "4.9406564584124654e-324",
        "9007199254740993", "100", "1e2", "1E+2", "0e0", "123.456e-7", "0.00001", "999999999999999999999",
    ]

    private static let stringPieces = [
        "plain", "with space", "/", "\\/", "\\\"", "\\\\", "é", "中文", "😀", "\u{7F}", "\u{2028}", "\u{2029}",
        "\u{FEFF}", "\\u00e9", "\\u00E9", "\\ud83d\\ude00", "\\uD83D\\uDE00", "\\ud800", "\\uDBFF", "\\udc00",
        "\\uDFFF", "\\u2028", "\\u007f", "\\u0000", "\\u0022", "\\u005c", "\\u002f", "\\b", "\\f", "\\n", "\\r",
        "\\t", "<script>", "'single'", "%s", "a\\u0308",
    ]

    private static let whitespace = ["", "", "", " ", "\n", "\t", "\r\n  "]

    private mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    private mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    private mutating func pick(_ choices: [String]) -> String { choices[below(choices.count)] }

    /// A new document, most often an object.
    mutating func document() -> String {
        let text = below(10) == 0 ? value(depth: 0) : object(depth: 0)
        return pick(Self.whitespace) + text + pick(Self.whitespace)
    }

    private mutating func value(depth: Int) -> String {
        switch below(depth >= 4 ? 6 : 8) {
        case 0, 1: return string()
        case 2, 3: return number()
        case 4: return pick(["true", "false", "null"])
        case 5: return string()
        case 6: return object(depth: depth + 1)
        default: return array(depth: depth + 1)
        }
    }

    private mutating func object(depth: Int) -> String {
        let members = (0..<below(7)).map { _ in
            let key = "\"" + pick(Self.keys) + "\""
            return pick(Self.whitespace) + key + pick(Self.whitespace) + ":" + pick(Self.whitespace)
                + value(depth: depth) + pick(Self.whitespace)
        }
        return "{" + members.joined(separator: ",") + (members.isEmpty ? pick(Self.whitespace) : "") + "}"
    }

    private mutating func array(depth: Int) -> String {
        let elements = (0..<below(5)).map { _ in pick(Self.whitespace) + value(depth: depth) + pick(Self.whitespace) }
        return "[" + elements.joined(separator: ",") + "]"
    }

    private mutating func string() -> String {
        var text = "\""
        for _ in 0..<below(5) {
            if below(4) == 0 {
                let code = below(0x20)
                text += below(2) == 0 ? String(format: "\\u%04x", code) : String(format: "\\u%04X", code)
            } else {
                text += pick(Self.stringPieces)
            }
        }
        return text + "\""
    }

    /// A number literal: a classic edge case, a random double, or random digits with or without an exponent.
    mutating func number() -> String {
        switch below(7) {
        case 0:
            return pick(Self.numbers)
        case 5:
            let scale = [1, 1e-7, 1e15, 1e21][below(4)]
            return (Double(below(100_000)) / Double(1 + below(1000)) * scale).description
        case 6:
            let zeros = String(repeating: "0", count: below(9))
            return "0." + zeros + String(1 + below(999_999_999)) + (below(2) == 0 ? "" : "e" + String(below(30)))
        case 1:
            let bits = next()
            let value = Double(bitPattern: bits)
            return value.isFinite ? value.description : "1"
        case 2:
            let digits = (0..<(1 + below(24))).map { _ in String(below(10)) }.joined()
            let trimmed = digits.drop { $0 == "0" }
            return (below(3) == 0 ? "-" : "") + (trimmed.isEmpty ? "0" : String(trimmed))
        case 3:
            let whole = below(3) == 0 ? "0" : String(1 + below(99_999))
            let fraction = (0..<(1 + below(20))).map { _ in String(below(10)) }.joined()
            return (below(2) == 0 ? "-" : "") + whole + "." + fraction
        default:
            let mantissa = String(1 + below(9)) + (below(2) == 0 ? "" : "." + String(below(1_000_000)))
            let exponent = (below(2) == 0 ? "-" : pick(["", "+"])) + String(below(330))
            return mantissa + pick(["e", "E"]) + exponent
        }
    }
}
