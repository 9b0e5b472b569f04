/// A read the store cannot answer because its input names nothing.
public enum StoreQueryError: Error, Sendable, CustomStringConvertible {
    /// A pagination cursor that is not an item of the list.
    case unknownCursor(String)

    public var description: String {
        switch self {
        case .unknownCursor(let cursor): "starting_after \(cursor) is not an item of this list"
        }
    }
}
