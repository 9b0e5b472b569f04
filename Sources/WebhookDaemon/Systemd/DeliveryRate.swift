/// Deliveries in the last minute, from samples of a running total: the "delivered/min" of the status line.
///
/// A value type fed with `(time, total)` samples; it keeps those of the last window and answers
/// with the growth of the total across it. Before a full window has passed, the growth since the
/// first sample.
struct DeliveryRate: Sendable {
    private var samples: [(at: ContinuousClock.Instant, total: Int)] = []
    /// How far back the rate looks.
    let window: Duration

    init(window: Duration = .seconds(60)) {
        self.window = window
    }

    /// Adds a sample and returns the growth of `total` over the window ending at `now`.
    mutating func add(total: Int, at now: ContinuousClock.Instant) -> Int {
        samples.append((now, total))
        // Keep one sample at or before the window's start, so the window is always covered.
        while samples.count > 1, now - samples[1].at >= window {
            samples.removeFirst()
        }
        return total - samples[0].total
    }
}
