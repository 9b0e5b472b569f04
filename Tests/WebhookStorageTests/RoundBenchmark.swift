import Glibc
import Testing
import WebhookCore
import WebhookStorage

/// The storage side of a drain without HTTP, on each backend: the delivery loop's rounds (record one cohort's
/// results and claim for the slots they free, in one transaction) against 100 webhooks, with
/// `maintain()` (filing the delivery log, checkpointing) as often as the daemon runs it at full
/// speed. Runs only with `QR3_STORE_BENCH=<events>` set (x 100 webhooks), in release: `make bench-store`, or
/// `QR3_STORE_BENCH=1000 swift test -c release -Xswiftc -enable-testing --filter RoundBenchmark`.
///
/// Without libcurl and nginx sharing the cores, its CPU per delivery moves by a few percent
/// between runs where the full benchmark's moves by twenty: the place to try storage changes.
@Suite struct RoundBenchmark {
    static let events = getenv("QR3_STORE_BENCH").flatMap { Int(String(cString: $0)) }

    @Test(.enabled(if: events != nil), arguments: Backend.allCases)
    func roundsOfTheDeliveryLoop(_ backend: Backend) async throws {
        let events = try #require(Self.events)
        let database = try await TestDatabase.make(backend)
        defer { database.remove() }
        for _ in 0..<100 { _ = try await database.webhook() }
        let t0 = Timestamp(milliseconds: 1_000_000)
        for batch in stride(from: 0, to: events, by: 100) {
            for index in batch..<min(batch + 100, events) { try await database.emit(eventID: "evt_bench_\(index)") }
        }
        // A transaction makes at most 1,000 jobs: go on until every fan-out is done (bounded).
        for _ in 0..<(events * 100 / 1000 + 10) {
            let report = try await database.store.ingest(limit: 1000, validator: OutboxValidator(), now: t0)
            if !report.hasMore, report.events == 0 { break }
        }
        try await database.store.maintain()
        let total = events * 100
        let cohort = 64
        let policy = RetryPolicy()
        /// One round of the loop: records `finished` as successes and claims a cohort.
        func round(recording finished: [ClaimedJob], at now: Timestamp) async throws -> [ClaimedJob] {
            var round = DeliveryRound(policy: policy, disableAfter: 10)
            round.results = finished.map { AttemptResult(job: $0, outcome: .ok, finishedAt: now) }
            round.claim = ClaimRequest(
                owner: "bench", limit: cohort, perWebhookLimit: 16, lease: .seconds(30), now: now)
            return try await database.store.advance(round).claimed
        }

        // Two cohorts in flight, as in the daemon: each round records one and claims its slots again.
        var cohorts = [try await round(recording: [], at: t0), try await round(recording: [], at: t0)]
        var recorded = 0
        var rounds = 0
        var sinceMaintenance = 0
        let cpuBefore = Self.processCPU()
        let started = ContinuousClock.now
        while recorded < total, rounds < total {
            let finished = cohorts[rounds % 2]
            cohorts[rounds % 2] = try await round(recording: finished, at: t0.adding(milliseconds: Int64(rounds)))
            recorded += finished.count
            sinceMaintenance += finished.count
            rounds += 1
            // The daemon files and checkpoints every 200 ms: about every 5,000 deliveries at full speed.
            if sinceMaintenance >= 5_000 {
                try await database.store.maintain()
                sinceMaintenance = 0
            }
            if cohorts.allSatisfy(\.isEmpty) { break }
        }
        try await database.store.maintain()
        let elapsed = ContinuousClock.now - started
        let cpu = Self.processCPU() - cpuBefore
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        #expect(recorded == total)
        print(
            """
            store rounds (\(backend)): \(recorded) deliveries in \(rounds) rounds of \(cohort), \
            \(Int(Double(recorded) / seconds)) per second, \
            \(String(format: "%.1f", cpu / Double(recorded) * 1e6)) µs CPU per delivery
            """)
    }

    static func processCPU() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}
