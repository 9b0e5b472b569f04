/// PostgreSQL array literals, so a batch travels as one parameter (`= ANY($1::bigint[])`,
/// `unnest($1::text[], $2::bigint[])`) and a round of hundreds of results costs a few
/// statements, not hundreds of round trips.
extension PostgresValue {
    /// A `text[]` literal; nil elements are SQL NULLs.
    public static func texts(_ values: some Sequence<String?>) -> PostgresValue {
        var literal = "{"
        var first = true
        for value in values {
            if !first { literal.append(",") }
            first = false
            guard let value else {
                literal.append("NULL")
                continue
            }
            literal.append("\"")
            for character in value.unicodeScalars {
                if character == "\"" || character == "\\" { literal.append("\\") }
                literal.unicodeScalars.append(character)
            }
            literal.append("\"")
        }
        literal.append("}")
        return .text(literal)
    }

    /// A `text[]` literal of non-optional strings.
    static func texts(_ values: some Sequence<String>) -> PostgresValue {
        texts(values.lazy.map { Optional($0) })
    }

    /// A `bigint[]` literal; nil elements are SQL NULLs.
    public static func ints(_ values: some Sequence<Int64?>) -> PostgresValue {
        .text("{" + values.map { $0.map(String.init) ?? "NULL" }.joined(separator: ",") + "}")
    }

    /// A `bigint[]` literal of non-optional integers.
    static func ints(_ values: some Sequence<Int64>) -> PostgresValue {
        .text("{" + values.map(String.init).joined(separator: ",") + "}")
    }
}
