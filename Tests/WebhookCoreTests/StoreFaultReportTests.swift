import Testing
import WebhookCore

@Suite struct StoreFaultReportTests {
    let start = ContinuousClock.now
    let full = StoreFault(.diskFull, detail: "database or disk is full")

    @Test func theBackOffDoublesFromASmallStartToACapOfAFewSeconds() {
        let backoff = FaultBackoff()
        let longest = (1...10).map { backoff.delay(afterFailure: $0, jitter: 1) }
        #expect(
            longest == [
                .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600),
                .seconds(3), .seconds(3), .seconds(3), .seconds(3), .seconds(3),
            ])
        #expect(backoff.delay(afterFailure: 1, jitter: 0) == .milliseconds(50), "jitter takes off up to half")
        #expect(backoff.delay(afterFailure: 7, jitter: 0) == .milliseconds(1500))
        #expect(backoff.delay(afterFailure: 1_000_000, jitter: 0.5) == .milliseconds(2250), "no overflow")
    }

    @Test func aFaultIsSaidOnceWhenItBeginsThenNothingUntilAMinuteHasPassed() {
        var report = StoreFaultReport()
        let first = report.failed(full, now: start, jitter: 1)
        #expect(first.line == .began(full))
        #expect(first.delay == .milliseconds(100))
        var now = start
        var lines: [StoreFaultReport.Line] = []
        // A caller that retries as soon as it is told: 30 s of fault.
        var delay = first.delay
        while now - start < .seconds(30) {
            now += delay
            let decision = report.failed(full, now: now, jitter: 1)
            if let line = decision.line { lines.append(line) }
            delay = decision.delay
        }
        #expect(lines.isEmpty, "nothing more is said within the first minute")
        #expect(report.episode?.tries ?? 0 < 20, "tries are backed off: \(report.episode?.tries ?? 0)")
        #expect(delay == .seconds(3), "up to the cap")
    }

    @Test func aLongFaultIsSummedUpAtMostOnceAMinute() {
        var report = StoreFaultReport()
        var now = start
        var lines: [(ContinuousClock.Instant, StoreFaultReport.Line)] = []
        while now - start <= .seconds(185) {
            if let line = report.failed(full, now: now, jitter: 0.5).line { lines.append((now, line)) }
            now += .seconds(1)
        }
        #expect(lines.count == 4, "began, then one summary a minute for three minutes")
        #expect(lines.first?.1 == .began(full))
        #expect(
            lines[1].1
                == .stillFailing(full, tries: 60, interval: .seconds(60), duration: .seconds(60)))
        for (earlier, later) in zip(lines, lines.dropFirst()) {
            #expect(later.0 - earlier.0 >= .seconds(60))
        }
    }

    @Test func theEndOfAFaultIsSaidOnceWithItsLengthTriesAndLateResults() {
        var report = StoreFaultReport()
        #expect(report.succeeded(now: start) == nil, "no fault, nothing to say")
        _ = report.failed(full, now: start, jitter: 0)
        _ = report.failed(full, now: start + .seconds(4), jitter: 0)
        let io = StoreFault(.ioError, detail: "disk I/O error")
        _ = report.failed(io, now: start + .seconds(8), jitter: 0)
        #expect(report.episode?.fault == io, "the latest fault is the one reported")
        let end = report.succeeded(now: start + .milliseconds(12_300), resultsWritten: 17)
        #expect(end == .recovered(io, duration: .milliseconds(12_300), tries: 3, resultsWritten: 17))
        #expect(!report.isFailing)
        #expect(report.succeeded(now: start + .seconds(13)) == nil)
        #expect(report.failed(full, now: start + .seconds(14), jitter: 1).line == .began(full), "a new fault is new")
        #expect(report.failed(full, now: start + .seconds(14), jitter: 1).delay == .milliseconds(200))
    }

    @Test func durationsAreShownInTenthsOfASecond() {
        #expect(Duration.milliseconds(12_345).tenthsOfSecondsText == "12.3")
        #expect(Duration.milliseconds(50).tenthsOfSecondsText == "0.0")
        #expect(Duration.seconds(60).tenthsOfSecondsText == "60.0")
    }

    @Test func onlyALockIsTransient() {
        #expect(StoreFault.Kind.allCases.filter(\.isTransient) == [.busy])
        #expect(full.description == "disk full: database or disk is full")
    }
}
