import Testing
import WebhookCore

private func canonical(_ text: String, maximumDepth: Int = 64) throws -> String {
    try CanonicalJSON.canonicalize(text, maximumDepth: maximumDepth).text
}

private func failure(_ bytes: [UInt8], maximumDepth: Int = 64) -> CanonicalJSONError? {
    do {
        _ = try CanonicalJSON.canonicalize(bytes, maximumDepth: maximumDepth)
        return nil
    } catch {
        return error
    }
}

@Suite struct CanonicalJSONTests {
    // MARK: Layout

    @Test func removesWhitespaceBetweenTokens() throws {
        #expect(
            try canonical(" {\n\t\"a\" : [ 1 , 2 , { } , [ ] ] ,\r\n \"b\" :\"x y\" } \n")
                == #"{"a":[1,2,{},[]],"b":"x y"}"#
        )
    }

    @Test(arguments: [
        (#"{"a":1}"#, CanonicalJSON.Document.Kind.object), ("[1]", .array), (#""s""#, .string), ("-1.5e3", .number),
        ("true", .bool), ("false", .bool), ("null", .null), ("  {}", .object),
    ])
    func reportsTopLevelKind(input: String, kind: CanonicalJSON.Document.Kind) throws {
        #expect(try CanonicalJSON.canonicalize(input).kind == kind)
    }

    @Test func acceptsNonContiguousInput() throws {
        let text = #"{"b": [1.50, "\u00e9"], "0": null}"#
        let document = try CanonicalJSON.canonicalize(text.utf8.lazy.map { $0 })
        #expect(document.text == #"{"0":null,"b":[1.5,"é"]}"#)
        #expect(document == (try CanonicalJSON.canonicalize(Array(text.utf8))))
    }

    // MARK: Strings

    @Test(arguments: [
        (#""a/b""#, #""a/b""#),
        (#""a\/b""#, #""a/b""#),
        (#""\u002F\u002f""#, #""//""#),
        (#""\"\\""#, #""\"\\""#),
        (#""\u0022\u005C""#, #""\"\\""#),
        (#""\b\f\n\r\t""#, #""\b\f\n\r\t""#),
        (#""\u0008\u000C\u000a\u000D\u0009""#, #""\b\f\n\r\t""#),
        (#""\u0000\u001F\u001b""#, #""\u0000\u001f\u001b""#),
        (#""\u0041\u00e9\u00E9""#, #""Aéé""#),
        ("\"é中😀\"", "\"é中😀\""),
        (#""\u007f""#, "\"\u{7F}\""),
        ("\"\u{7F}\"", "\"\u{7F}\""),
        (#""\u2028\u2029""#, "\"\u{2028}\u{2029}\""),
        ("\"\u{2028}\u{FEFF}\"", "\"\u{2028}\u{FEFF}\""),
        (#""\ud83d\ude00""#, #""😀""#),
        (#""\uD83D\uDE00""#, #""😀""#),
        (#""\uDBFF\uDFFF""#, "\"\u{10FFFF}\""),
        (#""\ud800""#, #""\ud800""#),
        (#""\uDBFF""#, #""\udbff""#),
        (#""\uDC00""#, #""\udc00""#),
        (#""\ud83dx""#, #""\ud83dx""#),
        (#""\ud83d\u0041""#, #""\ud83dA""#),
        (#""\ude00\ud83d""#, #""\ude00\ud83d""#),
        (#""\ud83d\ud83d\ude00""#, #""\ud83d😀""#),
        (#""\ud83d\n""#, #""\ud83d\n""#),
        (#""""#, #""""#),
    ])
    func stringsAreWrittenAsJSONStringifyDoes(input: String, expected: String) throws {
        #expect(try canonical(input) == expected)
    }

    @Test func everyControlCharacterIsEscapedLikeJSONStringify() throws {
        let short: [UInt8: String] = [0x08: #"\b"#, 0x09: #"\t"#, 0x0A: #"\n"#, 0x0C: #"\f"#, 0x0D: #"\r"#]
        for code in UInt8(0)..<0x20 {
            let upper = String(code, radix: 16, uppercase: true)
            let lower = String(code, radix: 16)
            let expected = short[code] ?? #"\u00"# + (code < 0x10 ? "0" : "") + lower
            #expect(try canonical(#""\u00"# + (code < 0x10 ? "0" : "") + upper + #"""#) == "\"\(expected)\"")
            #expect(CanonicalJSON.quote(String(UnicodeScalar(code))) == "\"\(expected)\"")
        }
    }

    @Test func quoteEscapesAsJSONStringify() {
        #expect(CanonicalJSON.quote("plain") == #""plain""#)
        #expect(CanonicalJSON.quote("a\"b\\c/d") == #""a\"b\\c/d""#)
        #expect(CanonicalJSON.quote("line\nbreak\ttab\u{0}\u{1F}") == #""line\nbreak\ttab\u0000\u001f""#)
        #expect(CanonicalJSON.quote("é😀\u{7F}\u{2028}") == "\"é😀\u{7F}\u{2028}\"")
        #expect(CanonicalJSON.quote("") == #""""#)
    }

    // MARK: Numbers

    @Test(arguments: [
        ("0", "0"), ("-0", "0"), ("-0.0", "0"), ("0.000", "0"), ("0e10", "0"), ("-0E-3", "0"),
        ("1", "1"), ("-1", "-1"), ("100", "100"), ("1.0", "1"), ("1.50", "1.5"), ("-2.500", "-2.5"),
        ("10.010", "10.01"), ("1E2", "100"), ("1e+2", "100"), ("1e-2", "0.01"), ("12e-1", "1.2"),
        ("1e21", "1e+21"), ("1e20", "100000000000000000000"), ("999999999999999999999", "1e+21"),
        ("123456789012345678901", "123456789012345680000"), ("1E-7", "1e-7"), ("0.0000001", "1e-7"),
        ("0.000001", "0.000001"), ("0.0000012", "0.0000012"), ("0.00000123", "0.00000123"), ("1e-6", "0.000001"),
        ("12345678901234567890", "12345678901234567000"), ("123456789012345678901234", "1.2345678901234569e+23"),
        ("123456789012345", "123456789012345"), ("1234567890123456", "1234567890123456"),
        ("9007199254740993", "9007199254740992"), ("0.1", "0.1"), ("0.30000000000000004", "0.30000000000000004"),
        ("0.3000000000000000444", "0.30000000000000004"), ("3.141592653589793238", "3.141592653589793"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"), ("-1.7976931348623157E+308", "-1.7976931348623157e+308"),
        ("1e400", "null"), ("-1e400", "null"), ("1e-400", "0"), ("-1e-400", "0"), ("5e-324", "5e-324"),
        ("2.4703282292062328e-324", "5e-324"), ("2.2250738585072014e-308", "2.2250738585072014e-308"),
        ("123e-20", "1.23e-18"), ("1.5e300", "1.5e+300"), ("0.00001000", "0.00001"), ("4.35", "4.35"),
        ("48.208176", "48.208176"), ("-122.41941550000001", "-122.41941550000001"),
    ])
    func numbersAreWrittenAsJavaScriptDoes(input: String, expected: String) throws {
        #expect(try canonical(input) == expected)
        #expect(try canonical("[\(input)]") == "[\(expected)]")
    }

    // MARK: Objects

    @Test(arguments: [
        (#"{"b":1,"a":2}"#, #"{"b":1,"a":2}"#),
        (#"{"b":1,"2":2,"1":3,"a":4,"0":5}"#, #"{"0":5,"1":3,"2":2,"b":1,"a":4}"#),
        (#"{"10":1,"9":2,"100":3}"#, #"{"9":2,"10":1,"100":3}"#),
        (
            #"{"a":1,"01":2,"-1":3,"1.0":4,"1":5," 1":6,"1e3":7}"#,
            #"{"1":5,"a":1,"01":2,"-1":3,"1.0":4," 1":6,"1e3":7}"#
        ),
        (#"{"x":0,"4294967295":1,"4294967294":2}"#, #"{"4294967294":2,"x":0,"4294967295":1}"#),
        (#"{"x":0,"9007199254740993":1,"42":2}"#, #"{"42":2,"x":0,"9007199254740993":1}"#),
        (#"{"\u0031":1,"0":2}"#, #"{"0":2,"1":1}"#),
        (#"{"a":1,"b":2,"a":3}"#, #"{"a":3,"b":2}"#),
        (#"{"a":1,"\u0061":2}"#, #"{"a":2}"#),
        (#"{"a":{"x":1},"b":2,"a":[3]}"#, #"{"a":[3],"b":2}"#),
        (#"{"1":1,"b":2,"1":3,"0":4,"b":5}"#, #"{"0":4,"1":3,"b":5}"#),
        (#"{"a":{"c":1,"5":2,"c":3},"a":{"z":{"3":1,"2":2}}}"#, #"{"a":{"z":{"2":2,"3":1}}}"#),
        (#"[{"b":1,"0":2},{"b":1,"b":2}]"#, #"[{"0":2,"b":1},{"b":2}]"#),
        (#"{"__proto__":1,"":2,"":3}"#, #"{"__proto__":1,"":3}"#),
        (#"{"\ud800":1,"\ud800":2}"#, #"{"\ud800":2}"#),
    ])
    func objectKeysFollowJavaScriptPropertyOrder(input: String, expected: String) throws {
        #expect(try canonical(input) == expected)
    }

    @Test func largeObjectsFindDuplicatesAndKeepOrder() throws {
        let keys = (0..<100).map { "key\($0)" }
        let members = keys.map { #""\#($0)":1"# } + [#""key7":2"#, #""key99":{"b":1,"b":2}"#]
        let expected = keys.map { #""\#($0)":\#($0 == "key7" ? "2" : $0 == "key99" ? #"{"b":2}"# : "1")"# }
        #expect(
            try canonical("{" + members.joined(separator: ",") + "}") == "{" + expected.joined(separator: ",") + "}"
        )
        let distinct = "{" + keys.reversed().map { #""\#($0)":[]"# }.joined(separator: ",") + "}"
        #expect(try canonical(distinct) == distinct)
    }

    @Test func canonicalOutputIsAFixedPoint() throws {
        let inputs = [
            #"{"b" : [1.50, 1e21, "\u00e9\/\ud800"], "1": {"y": -0, "x": 1E-7}, "a": null, "b": true}"#,
            #"[{"2":2,"1":1}, "\u001f\u2028", 123456789012345678901234, 0.1]"#,
        ]
        for input in inputs {
            let once = try CanonicalJSON.canonicalize(input)
            #expect(try CanonicalJSON.canonicalize(once.bytes) == once)
        }
    }

    // MARK: Depth

    @Test func nestingIsLimited() throws {
        let deepest = String(repeating: "[", count: 64) + "1" + String(repeating: "]", count: 64)
        #expect(try canonical(deepest) == deepest)
        let tooDeep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(failure(Array(tooDeep.utf8))?.message == "invalid JSON at byte 64: nesting deeper than 64 levels")
        let objects = String(repeating: #"{"a":"#, count: 3) + "1" + String(repeating: "}", count: 3)
        #expect(try canonical(objects, maximumDepth: 3) == objects)
        #expect(
            failure(Array(objects.utf8), maximumDepth: 2)?.message
                == "invalid JSON at byte 10: nesting deeper than 2 levels"
        )
    }

    // MARK: Errors

    @Test(arguments: [
        ("", "invalid JSON at byte 0: expected a value, found the end of the input"),
        ("   ", "invalid JSON at byte 3: expected a value, found the end of the input"),
        (#"{"a":1,}"#, "invalid JSON at byte 7: expected a string key after ',' (trailing commas are not allowed)"),
        ("[1,]", "invalid JSON at byte 3: expected a value after ',' (trailing commas are not allowed)"),
        ("[1,,2]", "invalid JSON at byte 3: expected a value, found ','"),
        (#"{"a":1 "b":2}"#, #"invalid JSON at byte 7: expected ',' or '}' after an object member, found '"'"#),
        ("[1 2]", "invalid JSON at byte 3: expected ',' or ']' after an array element, found '2'"),
        (#"{"a" 1}"#, "invalid JSON at byte 5: expected ':' after an object key, found '1'"),
        ("{a:1}", "invalid JSON at byte 1: expected a string key or '}', found 'a'"),
        (
            "{'a':1}",
            #"invalid JSON at byte 1: expected a string key or '}', found "'" (JSON strings use double quotes)"#
        ),
        ("['a']", #"invalid JSON at byte 1: expected a value, found "'" (JSON strings use double quotes)"#),
        (
            "[1] // note",
            "invalid JSON at byte 4: expected the end of the input after the top-level value, "
                + "found '/' (comments are not allowed in JSON)"
        ),
        ("/* c */ {}", "invalid JSON at byte 0: expected a value, found '/' (comments are not allowed in JSON)"),
        (#"{"a":1}x"#, "invalid JSON at byte 7: expected the end of the input after the top-level value, found 'x'"),
        ("{} {}", "invalid JSON at byte 3: expected the end of the input after the top-level value, found '{'"),
        (#"{"a":1"#, "invalid JSON at byte 6: expected ',' or '}' after an object member, found the end of the input"),
        ("[", "invalid JSON at byte 1: expected a value, found the end of the input"),
        ("]", "invalid JSON at byte 0: expected a value, found ']'"),
        ("01", "invalid JSON at byte 0: numbers cannot have leading zeros"),
        ("-01", "invalid JSON at byte 1: numbers cannot have leading zeros"),
        ("+1", "invalid JSON at byte 0: expected a value, found '+' (numbers do not start with '+')"),
        (".5", "invalid JSON at byte 0: expected a value, found '.' (numbers start with a digit)"),
        ("1.", "invalid JSON at byte 2: expected a digit after the decimal point"),
        ("1.e5", "invalid JSON at byte 2: expected a digit after the decimal point"),
        ("1e", "invalid JSON at byte 2: expected a digit in the exponent"),
        ("1e+", "invalid JSON at byte 3: expected a digit in the exponent"),
        ("-", "invalid JSON at byte 1: expected a digit after '-'"),
        ("-x", "invalid JSON at byte 1: expected a digit after '-'"),
        ("1.5.2", "invalid JSON at byte 3: expected the end of the input after the top-level value, found '.'"),
        ("0x10", "invalid JSON at byte 1: expected the end of the input after the top-level value, found 'x'"),
        ("NaN", "invalid JSON at byte 0: expected a value, found 'N' (NaN and Infinity are not JSON)"),
        ("[-Infinity]", "invalid JSON at byte 2: expected a digit after '-'"),
        ("Infinity", "invalid JSON at byte 0: expected a value, found 'I' (NaN and Infinity are not JSON)"),
        ("tru", "invalid JSON at byte 3: expected 'true'"),
        ("nul", "invalid JSON at byte 3: expected 'null'"),
        ("[True]", "invalid JSON at byte 1: expected a value, found 'T'"),
        ("falsy", "invalid JSON at byte 4: expected 'false'"),
        (#""abc"#, "invalid JSON at byte 4: unterminated string (it starts at byte 0)"),
        (#"["abc\"#, "invalid JSON at byte 6: unterminated string (it starts at byte 1)"),
        ("\"a\tb\"", #"invalid JSON at byte 2: raw control character U+0009 in a string; write it as \t"#),
        ("\"a\nb\"", #"invalid JSON at byte 2: raw control character U+000A in a string; write it as \n"#),
        ("\"\u{1}\"", #"invalid JSON at byte 1: raw control character U+0001 in a string; write it as \u0001"#),
        (
            #""\x""#,
            #"invalid JSON at byte 1: invalid escape '\x' in a string; JSON allows \" \\ \/ \b \f \n \r \t and \uXXXX"#
        ),
        (
            #""\'""#,
            #"invalid JSON at byte 1: invalid escape '\'' in a string; JSON allows \" \\ \/ \b \f \n \r \t and \uXXXX"#
        ),
        (
            #""\U0041""#,
            #"invalid JSON at byte 1: invalid escape '\U' in a string; JSON allows \" \\ \/ \b \f \n \r \t and \uXXXX"#
        ),
        (#""\u12""#, #"invalid JSON at byte 1: \u must be followed by four hexadecimal digits"#),
        (#""\u12G4""#, #"invalid JSON at byte 1: \u must be followed by four hexadecimal digits"#),
        (#""\ud800\u12""#, #"invalid JSON at byte 7: \u must be followed by four hexadecimal digits"#),
        ("\u{A0}1", "invalid JSON at byte 0: expected a value, found U+00A0"),
        ("[1,\u{0B}2]", "invalid JSON at byte 3: expected a value, found the control character U+000B"),
    ])
    func rejectsInvalidJSONSayingWhatAndWhere(input: String, message: String) {
        #expect(failure(Array(input.utf8))?.message == message)
    }

    @Test func rejectsByteOrderMark() {
        let error = failure([0xEF, 0xBB, 0xBF] + Array("{}".utf8))
        #expect(
            error?.message
                == "invalid JSON at byte 0: the input starts with a byte order mark (U+FEFF); send the JSON without it"
        )
        #expect(error?.byteOffset == 0)
    }

    @Test(arguments: [
        (#""a"# + "\u{FF}" + #"""#, 2, "invalid UTF-8 at byte 2: byte 0xFF never appears in UTF-8"),
        (#""a"# + "\u{80}" + #"""#, 2, "invalid UTF-8 at byte 2: byte 0x80 cannot start a character"),
        (
            #""a"# + "\u{C3}\u{28}" + #"""#, 2,
            "invalid UTF-8 at byte 2: byte 0x28 at byte 3 does not continue a valid 2-byte character"
        ),
        (#""a"# + "\u{C0}\u{80}" + #"""#, 2, "invalid UTF-8 at byte 2: byte 0xC0 never appears in UTF-8"),
        (
            #""a"# + "\u{E0}\u{80}\u{80}" + #"""#, 2,
            "invalid UTF-8 at byte 2: byte 0x80 at byte 3 does not continue a valid 3-byte character"
        ),
        (
            #""a"# + "\u{ED}\u{A0}\u{80}" + #"""#, 2,
            "invalid UTF-8 at byte 2: byte 0xA0 at byte 3 does not continue a valid 3-byte character"
        ),
        (
            #""a"# + "\u{F0}\u{8F}\u{BF}\u{BF}" + #"""#, 2,
            "invalid UTF-8 at byte 2: byte 0x8F at byte 3 does not continue a valid 4-byte character"
        ),
        (
            #""a"# + "\u{F4}\u{90}\u{80}\u{80}" + #"""#, 2,
            "invalid UTF-8 at byte 2: byte 0x90 at byte 3 does not continue a valid 4-byte character"
        ),
        (#""a"# + "\u{F5}\u{80}\u{80}\u{80}" + #"""#, 2, "invalid UTF-8 at byte 2: byte 0xF5 never appears in UTF-8"),
        (#""a"# + "\u{E2}\u{82}", 2, "invalid UTF-8 at byte 2: the input ends inside a 3-byte character"),
        (#"{"k"# + "\u{FE}" + #"":1}"#, 3, "invalid UTF-8 at byte 3: byte 0xFE never appears in UTF-8"),
        (#"{"a":1,"# + "\u{FF}" + "}", 7, "invalid UTF-8 at byte 7: byte 0xFF never appears in UTF-8"),
        ("\u{FF}", 0, "invalid UTF-8 at byte 0: byte 0xFF never appears in UTF-8"),
    ])
    func rejectsInvalidUTF8Anywhere(latin1: String, offset: Int, message: String) {
        let bytes = latin1.unicodeScalars.map { UInt8($0.value) }
        let error = failure(bytes)
        #expect(error?.message == message)
        #expect(error?.byteOffset == offset)
    }
}
