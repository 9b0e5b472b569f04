/// Durations as operators write them: seconds (`90`), or a number with a unit: `s`, `m`, `h`, `d`
/// (`90s`, `5m`, `1h`, `30d`, `0.5s`).
public enum DurationText {
    /// The duration in seconds, or nil when `text` is not one (or negative).
    public static func seconds(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        var number = Substring(text)
        var unit = 1.0
        if let last = number.last, let factor = units[last] {
            unit = factor
            number = number.dropLast()
        }
        guard let count = Double(number), count.isFinite, count >= 0 else { return nil }
        return count * unit
    }
}
