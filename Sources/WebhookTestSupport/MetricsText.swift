/// The samples of a Prometheus text exposition, by series: `name` or `name{labels}` exactly as written.
///
/// ```swift
/// let samples = MetricsText(body)
/// samples["qr3_webhookd_jobs_due"]  // 4.0
/// ```
public struct MetricsText: Sendable {
    /// Every sample line's value, keyed by what precedes the value.
    public let samples: [String: Double]

    /// Parses `text`, skipping `#` lines and anything that is not `series value`.
    public init(_ text: String) {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            samples[String(line[..<space])] = value
        }
        self.samples = samples
    }

    /// The value of `series`, nil when the exposition has no such line.
    public subscript(series: String) -> Double? { samples[series] }
}
