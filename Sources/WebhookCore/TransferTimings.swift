/// Where the time of one attempt went, as libcurl measured it: microseconds from the start of
/// the transfer to the end of each step, nil for a step never reached (`tls` for plain http).
///
/// The steps add up: `connect` includes `nameLookup`, `firstByte` includes the request upload
/// and the receiver's thinking time. A timeout with `connect` nil never reached the receiver; one
/// with `firstByte` nil was connected but got no answer.
public struct TransferTimings: Sendable, Hashable {
    public var nameLookup: Int64?
    public var connect: Int64?
    public var tls: Int64?
    public var firstByte: Int64?
    public var total: Int64?

    public init(
        nameLookup: Int64? = nil, connect: Int64? = nil, tls: Int64? = nil, firstByte: Int64? = nil,
        total: Int64? = nil
    ) {
        self.nameLookup = nameLookup
        self.connect = connect
        self.tls = tls
        self.firstByte = firstByte
        self.total = total
    }

    /// No step measured (attempts recorded before timings were kept).
    public static let none = TransferTimings()

    /// `{"name_lookup_ms":0.052,"connect_ms":0.171,...}`: milliseconds with three decimals, null
    /// for a step never reached.
    public var json: String {
        var object = JSONObjectWriter()
        for (key, value) in [
            ("name_lookup_ms", nameLookup), ("connect_ms", connect), ("tls_ms", tls),
            ("first_byte_ms", firstByte), ("total_ms", total),
        ] {
            object.add(key, raw: value.map(Self.milliseconds) ?? "null")
        }
        return object.json
    }

    /// Microseconds as milliseconds with three decimals, trailing zeros dropped: 1500 -> `1.5`.
    public static func milliseconds(_ microseconds: Int64) -> String {
        let whole = microseconds / 1000
        var fraction = String(microseconds % 1000)
        guard fraction != "0" else { return String(whole) }
        fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(whole).\(fraction)"
    }
}
