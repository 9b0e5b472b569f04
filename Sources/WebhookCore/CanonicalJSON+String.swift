extension CanonicalJSON.Parser {
    /// Reads the string at `position` (its opening quote) and writes it as `JSON.stringify` would.
    ///
    /// Runs of characters that need no escaping are copied in one go; UTF-8 is validated along the way.
    mutating func scanString() throws(CanonicalJSONError) {
        let opening = position
        position += 1
        output.append(UInt8(ascii: "\""))
        var runStart = position
        while position < input.count {
            let byte = input[position]
            if byte >= 0x20, byte < 0x80, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
                position += 1
                continue
            }
            if byte >= 0x80 {
                position += try validateUTF8(at: position).length
                continue
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: input[runStart..<position]))
            if byte == UInt8(ascii: "\"") {
                position += 1
                output.append(UInt8(ascii: "\""))
                return
            }
            guard byte == UInt8(ascii: "\\") else {
                var escape: [UInt8] = []
                CanonicalJSON.appendEscaped(byte, to: &escape)
                throw .syntax(
                    "raw control character U+\(Self.hex(UInt32(byte), digits: 4)) in a string; "
                        + "write it as \(String(decoding: escape, as: UTF8.self))",
                    at: position
                )
            }
            try scanEscape(stringStart: opening)
            runStart = position
        }
        throw .syntax("unterminated string (it starts at byte \(opening))", at: position)
    }

    /// Reads the escape sequence at `position` (its backslash) and writes its canonical form.
    private mutating func scanEscape(stringStart: Int) throws(CanonicalJSONError) {
        guard position + 1 < input.count else {
            throw .syntax("unterminated string (it starts at byte \(stringStart))", at: input.count)
        }
        let letter = input[position + 1]
        switch letter {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"):
            output.append(UInt8(ascii: "\\"))
            output.append(letter)
        case UInt8(ascii: "/"):
            output.append(letter)
        case UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            output.append(UInt8(ascii: "\\"))
            output.append(letter)
        case UInt8(ascii: "u"):
            try scanUnicodeEscape()
            return
        default:
            let shown = letter >= 0x21 && letter <= 0x7E ? "'\\\(Character(Unicode.Scalar(letter)))'" : "a backslash"
            throw .syntax(
                "invalid escape \(shown) in a string; JSON allows \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX",
                at: position
            )
        }
        position += 2
    }

    /// Reads `\uXXXX` (and a following low surrogate escape) and writes the character raw, or escaped when
    /// `JSON.stringify` escapes it: control characters, `"`, `\` and lone surrogates (as lower-case `\udXXX`).
    private mutating func scanUnicodeEscape() throws(CanonicalJSONError) {
        guard let unit = hexQuad(at: position + 2) else {
            throw .syntax("\\u must be followed by four hexadecimal digits", at: position)
        }
        position += 6
        switch unit {
        case 0xD800...0xDBFF:
            if position + 1 < input.count, input[position] == UInt8(ascii: "\\"),
                input[position + 1] == UInt8(ascii: "u"),
                let low = hexQuad(at: position + 2), (0xDC00...0xDFFF).contains(low)
            {
                position += 6
                let scalar = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                appendUTF8(scalar)
            } else {
                appendUnicodeEscape(unit)
            }
        case 0xDC00...0xDFFF:
            appendUnicodeEscape(unit)
        case 0..<0x80:
            let byte = UInt8(unit)
            if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                CanonicalJSON.appendEscaped(byte, to: &output)
            } else {
                output.append(byte)
            }
        default:
            appendUTF8(UInt32(unit))
        }
    }

    /// The value of the four hexadecimal digits at `offset`, `nil` when they are not four hexadecimal digits.
    private func hexQuad(at offset: Int) -> UInt16? {
        guard offset + 4 <= input.count else { return nil }
        var value: UInt16 = 0
        for index in offset..<(offset + 4) {
            let byte = input[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt16(digit)
        }
        return value
    }

    private mutating func appendUnicodeEscape(_ unit: UInt16) {
        output.append(UInt8(ascii: "\\"))
        output.append(UInt8(ascii: "u"))
        for shift in stride(from: 12, through: 0, by: -4) {
            output.append(CanonicalJSON.lowerHexDigits[Int((unit >> UInt16(shift)) & 0xF)])
        }
    }

    private mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            output.append(UInt8(scalar))
        case 0x80..<0x800:
            output.append(UInt8(0xC0 | scalar >> 6))
            output.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            output.append(UInt8(0xE0 | scalar >> 12))
            output.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            output.append(UInt8(0x80 | scalar & 0x3F))
        default:
            output.append(UInt8(0xF0 | scalar >> 18))
            output.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            output.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            output.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    /// Checks the multi-byte UTF-8 sequence starting at `offset` (Unicode table 3-7: no overlong forms, no
    /// surrogates, nothing above U+10FFFF) and returns its scalar and length.
    func validateUTF8(at offset: Int) throws(CanonicalJSONError) -> (scalar: Unicode.Scalar, length: Int) {
        let lead = input[offset]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        var value: UInt32
        switch lead {
        case 0xC2...0xDF:
            length = 2
            value = UInt32(lead & 0x1F)
        case 0xE0...0xEF:
            length = 3
            value = UInt32(lead & 0x0F)
            if lead == 0xE0 { secondRange = 0xA0...0xBF }
            if lead == 0xED { secondRange = 0x80...0x9F }
        case 0xF0...0xF4:
            length = 4
            value = UInt32(lead & 0x07)
            if lead == 0xF0 { secondRange = 0x90...0xBF }
            if lead == 0xF4 { secondRange = 0x80...0x8F }
        case 0x80...0xBF:
            throw .encoding("byte 0x\(Self.hex(UInt32(lead), digits: 2)) cannot start a character", at: offset)
        default:
            throw .encoding("byte 0x\(Self.hex(UInt32(lead), digits: 2)) never appears in UTF-8", at: offset)
        }
        for index in 1..<length {
            guard offset + index < input.count else {
                throw .encoding("the input ends inside a \(length)-byte character", at: offset)
            }
            let byte = input[offset + index]
            guard (index == 1 ? secondRange : 0x80...0xBF).contains(byte) else {
                throw .encoding(
                    "byte 0x\(Self.hex(UInt32(byte), digits: 2)) at byte \(offset + index) does not continue "
                        + "a valid \(length)-byte character",
                    at: offset
                )
            }
            value = value << 6 | UInt32(byte & 0x3F)
        }
        return (Unicode.Scalar(value).unsafelyUnwrapped, length)
    }
}

extension CanonicalJSON {
    static let lowerHexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Writes the `JSON.stringify` escape of an ASCII byte that needs one: a control character, `"` or `\`.
    static func appendEscaped(_ byte: UInt8, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): output.append(byte)
        case 0x08: output.append(UInt8(ascii: "b"))
        case 0x0C: output.append(UInt8(ascii: "f"))
        case 0x0A: output.append(UInt8(ascii: "n"))
        case 0x0D: output.append(UInt8(ascii: "r"))
        case 0x09: output.append(UInt8(ascii: "t"))
        default:
            output.append(UInt8(ascii: "u"))
            output.append(UInt8(ascii: "0"))
            output.append(UInt8(ascii: "0"))
            output.append(lowerHexDigits[Int(byte >> 4)])
            output.append(lowerHexDigits[Int(byte & 0xF)])
        }
    }
}
