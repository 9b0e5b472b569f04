/// Turns the first bytes of a response (or an error text) into valid UTF-8 for the attempt log.
enum ResponseExcerpt {
    /// Decodes `bytes` as UTF-8 and returns at most `limit` bytes of it, never cutting a character.
    ///
    /// A character cut off at the end of `bytes` is dropped; invalid bytes elsewhere become
    /// U+FFFD, and the result is shortened again if those replacements made it longer than `limit`.
    static func make(_ bytes: some Collection<UInt8>, limit: Int) -> String {
        var bytes = Array(bytes.prefix(limit))
        bytes.removeLast(incompleteTailLength(bytes))
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.utf8.count > limit else { return text }
        var length = 0
        var kept = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            length += UTF8.width(scalar)
            guard length <= limit else { break }
            kept.append(scalar)
        }
        return String(kept)
    }

    /// How many trailing bytes form the start of a multi-byte character whose rest is missing.
    static func incompleteTailLength(_ bytes: [UInt8]) -> Int {
        var index = bytes.count - 1
        while index >= 0, bytes.count - index <= 4 {
            let byte = bytes[index]
            if byte & 0xC0 != 0x80 {
                let needed: Int
                switch byte {
                case 0xC0...0xDF: needed = 2
                case 0xE0...0xEF: needed = 3
                case 0xF0...0xF7: needed = 4
                default: needed = 1
                }
                return bytes.count - index < needed ? bytes.count - index : 0
            }
            index -= 1
        }
        return 0
    }
}
