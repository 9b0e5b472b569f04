extension PostgresValue {
    /// `values` as a PostgreSQL array literal, for `= ANY($1::text[])`.
    ///
    /// Every element is quoted (`"` and `\` escaped), so any text survives, commas and braces
    /// included. The one array form the PostgreSQL store uses.
    static func textArray(_ values: [String]) -> PostgresValue {
        let quoted = values.map { value in
            var escaped = "\""
            for character in value {
                if character == "\"" || character == "\\" { escaped.append("\\") }
                escaped.append(character)
            }
            return escaped + "\""
        }
        return .text("{" + quoted.joined(separator: ",") + "}")
    }

    /// `values` as a PostgreSQL array literal, for `= ANY($1::bigint[])`.
    static func intArray(_ values: [Int64]) -> PostgresValue {
        .text("{" + values.map(String.init).joined(separator: ",") + "}")
    }
}
