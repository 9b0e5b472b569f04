/// The body bytes the daemon signs and sends: `JSON.stringify(JSON.parse(text))`, byte for byte.
///
/// The documented Node receiver verifies `JSON.stringify(req.body)` while the Python receiver verifies the raw
/// bytes, so both succeed only when the body is a fixed point of a JavaScript parse and re-serialisation. That
/// form is compact, keeps `/` and non-ASCII characters raw, escapes control characters as JavaScript does, puts
/// array-index keys ("0", "42") first in ascending order and the other keys in insertion order (a duplicate key
/// keeps its first position and its last value), and writes numbers as `Number.prototype.toString` does.
public enum CanonicalJSON {
    /// A canonical JSON document: its UTF-8 bytes and the kind of its top-level value.
    public struct Document: Sendable, Hashable {
        /// What a document's top-level value is.
        public enum Kind: String, Sendable, Hashable, CaseIterable {
            case object, array, string, number, bool, null
        }

        /// The canonical UTF-8 bytes, exactly what `JSON.stringify(JSON.parse(text))` produces.
        public let bytes: [UInt8]
        /// The kind of the top-level value.
        public let kind: Kind

        /// The canonical bytes as a string.
        public var text: String { String(decoding: bytes, as: UTF8.self) }
    }

    /// Parses strict RFC 8259 JSON in UTF-8 and returns its canonical form.
    ///
    /// The input is rejected when it is not UTF-8, starts with a byte order mark, breaks the JSON grammar
    /// anywhere (comments, trailing commas, single quotes, `NaN`, leading zeros, raw control characters in
    /// strings, trailing garbage), or nests containers deeper than `maximumDepth`.
    ///
    /// - Throws: ``CanonicalJSONError`` saying what is wrong and at which byte offset (counted from 0).
    public static func canonicalize(
        _ bytes: some Collection<UInt8>,
        maximumDepth: Int = 64
    ) throws(CanonicalJSONError) -> Document {
        let contiguous = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(CanonicalJSONError) -> Document in
                try canonicalize(buffer: buffer, maximumDepth: maximumDepth)
            }
        }
        if let contiguous { return try contiguous.get() }
        return try Array(bytes).withUnsafeBufferPointer { (buffer) throws(CanonicalJSONError) in
            try canonicalize(buffer: buffer, maximumDepth: maximumDepth)
        }
    }

    /// Parses strict JSON text and returns its canonical form, as the byte-collection overload does.
    public static func canonicalize(_ text: String, maximumDepth: Int = 64) throws(CanonicalJSONError) -> Document {
        try canonicalize(text.utf8, maximumDepth: maximumDepth)
    }

    /// Quotes and escapes `string` exactly as `JSON.stringify` does, surrounding double quotes included.
    public static func quote(_ string: String) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(string.utf8.count + 2)
        output.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                appendEscaped(byte, to: &output)
            } else {
                output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
        return String(decoding: output, as: UTF8.self)
    }

    private static func canonicalize(
        buffer: UnsafeBufferPointer<UInt8>,
        maximumDepth: Int
    ) throws(CanonicalJSONError) -> Document {
        var parser = Parser(input: buffer, maximumDepth: maximumDepth)
        let kind = try parser.parseDocument()
        return Document(bytes: parser.output, kind: kind)
    }
}
