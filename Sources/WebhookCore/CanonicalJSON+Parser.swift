extension CanonicalJSON {
    /// A single pass over the input that validates it and writes the canonical form as it goes.
    ///
    /// Containers are tracked on an explicit stack, not by recursion. Object members are written in input order
    /// and only rewritten, when the object closes, if it has array-index keys or duplicate keys.
    struct Parser {
        let input: UnsafeBufferPointer<UInt8>
        let maximumDepth: Int
        var position = 0
        var output: [UInt8] = []
        var containers: [Container] = []
        var members: [Member] = []
        var hashSlots: [Int] = []

        /// An open object or array.
        struct Container {
            var isObject: Bool
            /// Where its `{` or `[` is in the output.
            var start: Int
            /// Its first entry in `members` (objects only).
            var firstMember: Int
            var hasArrayIndexKey = false
        }

        /// An object member already written to the output.
        struct Member {
            /// Where the key's opening quote is in the output.
            var start: Int
            /// Just past the key's closing quote in the output.
            var keyEnd: Int
            /// Just past the value in the output, once the value is complete.
            var end: Int
            /// The key's numeric value when it is an array index, `Member.notAnIndex` otherwise.
            var arrayIndex: UInt32

            static let notAnIndex = UInt32.max
        }

        init(input: UnsafeBufferPointer<UInt8>, maximumDepth: Int) {
            self.input = input
            self.maximumDepth = maximumDepth
            output.reserveCapacity(input.count + 16)
        }

        /// Parses the whole input, leaving the canonical bytes in `output`, and returns the top-level kind.
        mutating func parseDocument() throws(CanonicalJSONError) -> Document.Kind {
            if input.count >= 3, input[0] == 0xEF, input[1] == 0xBB, input[2] == 0xBF {
                throw .syntax("the input starts with a byte order mark (U+FEFF); send the JSON without it", at: 0)
            }
            skipWhitespace()
            let kind: Document.Kind =
                switch position < input.count ? input[position] : 0 {
                case UInt8(ascii: "{"): .object
                case UInt8(ascii: "["): .array
                case UInt8(ascii: "\""): .string
                case UInt8(ascii: "t"), UInt8(ascii: "f"): .bool
                case UInt8(ascii: "n"): .null
                default: .number
                }
            try parseValues()
            skipWhitespace()
            if position < input.count {
                throw try unexpected(expecting: "the end of the input after the top-level value")
            }
            return kind
        }

        private mutating func parseValues() throws(CanonicalJSONError) {
            value: while true {
                skipWhitespace()
                guard position < input.count else { throw try unexpected(expecting: "a value") }
                switch input[position] {
                case UInt8(ascii: "{"):
                    try open(isObject: true)
                    skipWhitespace()
                    if position < input.count, input[position] == UInt8(ascii: "}") {
                        position += 1
                        containers.removeLast()
                        output.append(UInt8(ascii: "}"))
                    } else {
                        try beginMember(expecting: "a string key or '}'")
                        continue value
                    }
                case UInt8(ascii: "["):
                    try open(isObject: false)
                    skipWhitespace()
                    if position < input.count, input[position] == UInt8(ascii: "]") {
                        position += 1
                        containers.removeLast()
                        output.append(UInt8(ascii: "]"))
                    } else {
                        continue value
                    }
                case UInt8(ascii: "\""):
                    try scanString()
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    try scanNumber()
                case UInt8(ascii: "t"):
                    try scanLiteral("true")
                case UInt8(ascii: "f"):
                    try scanLiteral("false")
                case UInt8(ascii: "n"):
                    try scanLiteral("null")
                default:
                    throw try unexpected(expecting: "a value")
                }

                while let top = containers.last {
                    skipWhitespace()
                    let byte = position < input.count ? input[position] : 0
                    if top.isObject {
                        members[members.count - 1].end = output.count
                        if byte == UInt8(ascii: ",") {
                            position += 1
                            output.append(UInt8(ascii: ","))
                            skipWhitespace()
                            try beginMember(expecting: "a string key after ','")
                            continue value
                        }
                        guard byte == UInt8(ascii: "}") else {
                            throw try unexpected(expecting: "',' or '}' after an object member")
                        }
                        position += 1
                        closeObject()
                    } else {
                        if byte == UInt8(ascii: ",") {
                            position += 1
                            output.append(UInt8(ascii: ","))
                            skipWhitespace()
                            if position < input.count, input[position] == UInt8(ascii: "]") {
                                throw .syntax(
                                    "expected a value after ',' (trailing commas are not allowed)",
                                    at: position
                                )
                            }
                            continue value
                        }
                        guard byte == UInt8(ascii: "]") else {
                            throw try unexpected(expecting: "',' or ']' after an array element")
                        }
                        position += 1
                        containers.removeLast()
                        output.append(UInt8(ascii: "]"))
                    }
                }
                return
            }
        }

        private mutating func open(isObject: Bool) throws(CanonicalJSONError) {
            guard containers.count < maximumDepth else {
                throw .syntax("nesting deeper than \(maximumDepth) levels", at: position)
            }
            containers.append(Container(isObject: isObject, start: output.count, firstMember: members.count))
            output.append(input[position])
            position += 1
        }

        /// Reads a member's key and its `:`; the value follows.
        private mutating func beginMember(expecting expectation: String) throws(CanonicalJSONError) {
            guard position < input.count, input[position] == UInt8(ascii: "\"") else {
                if position < input.count, input[position] == UInt8(ascii: "}") {
                    throw .syntax("expected a string key after ',' (trailing commas are not allowed)", at: position)
                }
                throw try unexpected(expecting: expectation)
            }
            let start = output.count
            try scanString()
            let keyEnd = output.count
            let arrayIndex = Self.arrayIndex(output[(start + 1)..<(keyEnd - 1)])
            if arrayIndex != Member.notAnIndex { containers[containers.count - 1].hasArrayIndexKey = true }
            members.append(Member(start: start, keyEnd: keyEnd, end: keyEnd, arrayIndex: arrayIndex))
            skipWhitespace()
            guard position < input.count, input[position] == UInt8(ascii: ":") else {
                throw try unexpected(expecting: "':' after an object key")
            }
            position += 1
            output.append(UInt8(ascii: ":"))
        }

        private mutating func scanLiteral(_ literal: StaticString) throws(CanonicalJSONError) {
            let count = literal.utf8CodeUnitCount
            let bytes = UnsafeBufferPointer(start: literal.utf8Start, count: count)
            for offset in 0..<count where position + offset >= input.count || input[position + offset] != bytes[offset]
            {
                throw .syntax("expected '\(literal)'", at: position + offset)
            }
            output.append(contentsOf: bytes)
            position += count
        }

        private mutating func skipWhitespace() {
            while position < input.count {
                switch input[position] {
                case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): position += 1
                default: return
                }
            }
        }

        /// The error for whatever is at `position` when `expectation` was due there.
        private func unexpected(expecting expectation: String) throws(CanonicalJSONError) -> CanonicalJSONError {
            guard position < input.count else {
                return .syntax("expected \(expectation), found the end of the input", at: position)
            }
            let byte = input[position]
            let wantsValue = expectation == "a value"
            let found: String
            switch byte {
            case UInt8(ascii: "'"): found = "\"'\" (JSON strings use double quotes)"
            case UInt8(ascii: "/"): found = "'/' (comments are not allowed in JSON)"
            case UInt8(ascii: "+") where wantsValue: found = "'+' (numbers do not start with '+')"
            case UInt8(ascii: ".") where wantsValue: found = "'.' (numbers start with a digit)"
            case UInt8(ascii: "N") where wantsValue, UInt8(ascii: "I") where wantsValue:
                found = "'\(Character(Unicode.Scalar(byte)))' (NaN and Infinity are not JSON)"
            case 0x21...0x7E: found = "'\(Character(Unicode.Scalar(byte)))'"
            case 0x80...:
                let scalar = try validateUTF8(at: position).scalar
                found = "U+\(Self.hex(scalar.value, digits: 4))"
            default: found = "the control character U+\(Self.hex(UInt32(byte), digits: 4))"
            }
            return .syntax("expected \(expectation), found \(found)", at: position)
        }

        /// The numeric value of a key that JavaScript treats as an array index: "0" ... "4294967294", canonical.
        static func arrayIndex(_ key: ArraySlice<UInt8>) -> UInt32 {
            guard (1...10).contains(key.count), key.first != UInt8(ascii: "0") || key.count == 1 else {
                return Member.notAnIndex
            }
            var value: UInt64 = 0
            for byte in key {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return Member.notAnIndex }
                value = value * 10 + UInt64(byte - UInt8(ascii: "0"))
            }
            return value < UInt64(Member.notAnIndex) ? UInt32(value) : Member.notAnIndex
        }

        static func hex(_ value: UInt32, digits: Int) -> String {
            let text = String(value, radix: 16, uppercase: true)
            return String(repeating: "0", count: max(0, digits - text.count)) + text
        }
    }
}
