/// Why a producer's JSON was refused, with the byte offset (counted from 0) where the problem was found.
public struct CanonicalJSONError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A sentence for a human: what is wrong and where, e.g. `invalid UTF-8 at byte 4: ...`.
    public let message: String
    /// The offset of the offending byte in the input, counted from 0.
    public let byteOffset: Int

    /// An error with its message and the offset it refers to.
    public init(message: String, byteOffset: Int) {
        self.message = message
        self.byteOffset = byteOffset
    }

    /// The message.
    public var description: String { message }

    static func syntax(_ problem: String, at offset: Int) -> CanonicalJSONError {
        CanonicalJSONError(message: "invalid JSON at byte \(offset): \(problem)", byteOffset: offset)
    }

    static func encoding(_ problem: String, at offset: Int) -> CanonicalJSONError {
        CanonicalJSONError(message: "invalid UTF-8 at byte \(offset): \(problem)", byteOffset: offset)
    }
}
