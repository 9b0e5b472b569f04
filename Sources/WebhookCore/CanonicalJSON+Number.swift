extension CanonicalJSON.Parser {
    /// Reads the number at `position` under the strict JSON grammar and writes it as JavaScript prints it.
    mutating func scanNumber() throws(CanonicalJSONError) {
        let start = position
        var cursor = position
        if input[cursor] == UInt8(ascii: "-") { cursor += 1 }
        let integerStart = cursor
        guard cursor < input.count, isDigit(input[cursor]) else {
            throw .syntax("expected a digit after '-'", at: cursor)
        }
        cursor += 1
        if input[integerStart] == UInt8(ascii: "0") {
            if cursor < input.count, isDigit(input[cursor]) {
                throw .syntax("numbers cannot have leading zeros", at: integerStart)
            }
        } else {
            while cursor < input.count, isDigit(input[cursor]) { cursor += 1 }
        }
        let integerEnd = cursor
        if cursor < input.count, input[cursor] == UInt8(ascii: ".") {
            cursor += 1
            let digitsStart = cursor
            while cursor < input.count, isDigit(input[cursor]) { cursor += 1 }
            guard cursor > digitsStart else { throw .syntax("expected a digit after the decimal point", at: cursor) }
        }
        let fractionEnd = cursor
        if cursor < input.count, input[cursor] == UInt8(ascii: "e") || input[cursor] == UInt8(ascii: "E") {
            cursor += 1
            if cursor < input.count, input[cursor] == UInt8(ascii: "+") || input[cursor] == UInt8(ascii: "-") {
                cursor += 1
            }
            let digitsStart = cursor
            while cursor < input.count, isDigit(input[cursor]) { cursor += 1 }
            guard cursor > digitsStart else { throw .syntax("expected a digit in the exponent", at: cursor) }
        }
        position = cursor
        if fractionEnd == cursor,
            appendShortDecimal(start: start, integerStart: integerStart, integerEnd: integerEnd, end: fractionEnd)
        {
            return
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: input[start..<cursor]), as: UTF8.self)
        guard let value = Double(text) else { throw .syntax("the number \(text) cannot be read", at: start) }
        CanonicalJSON.appendJavaScriptNumber(value, to: &output)
    }

    /// Writes a number without exponent whose canonical form is its own text, and returns `false` for others.
    ///
    /// A decimal with at most 15 significant digits (`DBL_DIG`) survives the trip through a double unchanged, so
    /// JavaScript prints it as written, less trailing fraction zeros, unless it is zero or below 1e-6.
    private mutating func appendShortDecimal(start: Int, integerStart: Int, integerEnd: Int, end: Int) -> Bool {
        var end = end
        if end > integerEnd {
            while input[end - 1] == UInt8(ascii: "0") { end -= 1 }
            if end == integerEnd + 1 { end = integerEnd }
        }
        let significantDigits: Int
        if input[integerStart] == UInt8(ascii: "0") {
            guard end > integerEnd else {
                output.append(UInt8(ascii: "0"))
                return true
            }
            var firstSignificant = integerEnd + 1
            while input[firstSignificant] == UInt8(ascii: "0") { firstSignificant += 1 }
            guard firstSignificant - integerEnd - 1 < 6 else { return false }
            significantDigits = end - firstSignificant
        } else {
            significantDigits = integerEnd - integerStart + (end > integerEnd ? end - integerEnd - 1 : 0)
        }
        guard significantDigits <= 15 else { return false }
        output.append(contentsOf: UnsafeBufferPointer(rebasing: input[start..<end]))
        return true
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}

extension CanonicalJSON {
    /// Writes `value` as ECMA-262 `Number::toString` does, and `null` for infinities and NaN as `JSON.stringify`.
    ///
    /// The shortest round-trip digits come from Swift's `description`; only its digits and exponent are used,
    /// then laid out by the ECMA-262 rules for the decimal exponent n and digit count k:
    ///
    /// | case              | form                    | example                   |
    /// |-------------------|-------------------------|---------------------------|
    /// | k <= n <= 21      | digits, n - k zeros     | `1e20` -> `100000000000000000000` |
    /// | 0 < n <= 21       | point inside the digits | `1.50` -> `1.5`           |
    /// | -6 < n <= 0       | `0.`, -n zeros, digits  | `1e-6` -> `0.000001`      |
    /// | otherwise         | `d.ddde+N` / `de-N`     | `1e21` -> `1e+21`, `1E-7` -> `1e-7` |
    static func appendJavaScriptNumber(_ value: Double, to output: inout [UInt8]) {
        guard value.isFinite else {
            output.append(contentsOf: "null".utf8)
            return
        }
        guard value != 0 else {
            output.append(UInt8(ascii: "0"))
            return
        }
        if value < 0 { output.append(UInt8(ascii: "-")) }
        var description = value.magnitude.description
        description.withUTF8 { text in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 40) { digits in
                var count = 0
                var pointPosition: Int?
                var exponent = 0
                var index = 0
                while index < text.count {
                    let byte = text[index]
                    index += 1
                    if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), count < digits.count {
                        digits[count] = byte
                        count += 1
                    } else if byte == UInt8(ascii: ".") {
                        pointPosition = count
                    } else if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                        exponent = parseExponent(UnsafeBufferPointer(rebasing: text[index...]))
                        break
                    }
                }
                var exponentN = (pointPosition ?? count) + exponent
                var first = 0
                while first < count - 1, digits[first] == UInt8(ascii: "0") {
                    first += 1
                    exponentN -= 1
                }
                var last = count
                while last > first + 1, digits[last - 1] == UInt8(ascii: "0") { last -= 1 }
                layOut(UnsafeBufferPointer(rebasing: digits[first..<last]), exponentN: exponentN, to: &output)
            }
        }
    }

    private static func parseExponent(_ text: UnsafeBufferPointer<UInt8>) -> Int {
        var negative = false
        var value = 0
        for byte in text {
            if byte == UInt8(ascii: "-") {
                negative = true
            } else if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
        }
        return negative ? -value : value
    }

    /// Lays out the digits of a positive number whose value is 0.d1d2...dk times 10^n.
    private static func layOut(_ digits: UnsafeBufferPointer<UInt8>, exponentN n: Int, to output: inout [UInt8]) {
        let k = digits.count
        if k <= n, n <= 21 {
            output.append(contentsOf: digits)
            output.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: n - k))
        } else if 0 < n, n <= 21 {
            output.append(contentsOf: UnsafeBufferPointer(rebasing: digits[..<n]))
            output.append(UInt8(ascii: "."))
            output.append(contentsOf: UnsafeBufferPointer(rebasing: digits[n...]))
        } else if -6 < n, n <= 0 {
            output.append(UInt8(ascii: "0"))
            output.append(UInt8(ascii: "."))
            output.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: -n))
            output.append(contentsOf: digits)
        } else {
            output.append(digits[0])
            if k > 1 {
                output.append(UInt8(ascii: "."))
                output.append(contentsOf: UnsafeBufferPointer(rebasing: digits[1...]))
            }
            output.append(UInt8(ascii: "e"))
            output.append(n - 1 >= 0 ? UInt8(ascii: "+") : UInt8(ascii: "-"))
            output.append(contentsOf: String((n - 1).magnitude).utf8)
        }
    }
}
