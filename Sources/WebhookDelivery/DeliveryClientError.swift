/// A fault of the delivery client itself (never a receiver's failure, which is an outcome).
public enum DeliveryClientError: Error, Sendable, CustomStringConvertible {
    /// A configuration value cannot work; the message names it and the valid range.
    case invalidConfiguration(String)
    /// libcurl could not be initialised or refused a setting.
    case curl(String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let message): "invalid delivery configuration: \(message)"
        case .curl(let message): "libcurl failed: \(message)"
        }
    }
}
