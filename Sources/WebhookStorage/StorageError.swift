/// A fault of the database itself, as opposed to bad input (which is rejected with a reason).
public struct StorageError: Error, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
