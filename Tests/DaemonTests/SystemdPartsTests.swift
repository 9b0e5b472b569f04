import Foundation
import Logging
import Testing
import WebhookAPI
import WebhookStorage
import WebhookTestSupport

@testable import WebhookDaemon

/// The systemd, journal and metrics parts of the daemon, without running it.
@Suite struct SystemdPartsTests {
    @Test func watchdogIntervalIsHalfOfWatchdogUsecAndOnlyForThisProcess() {
        #expect(WatchdogSchedule(watchdogUsec: "30000000", watchdogPID: nil, processID: 7).interval == .seconds(15))
        #expect(WatchdogSchedule(watchdogUsec: "200000", watchdogPID: "7", processID: 7).interval == .milliseconds(100))
        #expect(WatchdogSchedule(watchdogUsec: "200000", watchdogPID: "8", processID: 7).interval == nil)
        #expect(WatchdogSchedule(watchdogUsec: nil, watchdogPID: nil, processID: 7).interval == nil)
        #expect(WatchdogSchedule(watchdogUsec: "0", watchdogPID: nil, processID: 7).interval == nil)
        #expect(WatchdogSchedule(watchdogUsec: "soon", watchdogPID: nil, processID: 7).interval == nil)
        let schedule = WatchdogSchedule(watchdogUsec: "1000000", watchdogPID: nil, processID: 7)
        #expect(schedule.capping(.seconds(5)) == .milliseconds(500))
        #expect(schedule.capping(.milliseconds(100)) == .milliseconds(100))
        #expect(WatchdogSchedule(watchdogUsec: nil, watchdogPID: nil, processID: 7).capping(.seconds(5)) == .seconds(5))
        let start = ContinuousClock.now
        #expect(WatchdogSchedule.isDue(last: nil, now: start, interval: .seconds(1)))
        #expect(!WatchdogSchedule.isDue(last: start, now: start + .milliseconds(999), interval: .seconds(1)))
        #expect(WatchdogSchedule.isDue(last: start, now: start + .seconds(1), interval: .seconds(1)))
    }

    @Test func deliveryRateCountsTheLastMinute() {
        var rate = DeliveryRate(window: .seconds(60))
        let start = ContinuousClock.now
        #expect(rate.add(total: 10, at: start) == 0)
        #expect(rate.add(total: 40, at: start + .seconds(30)) == 30)
        #expect(rate.add(total: 70, at: start + .seconds(60)) == 60)
        // The sample of second 0 has left the window; the one of second 30 starts it.
        #expect(rate.add(total: 75, at: start + .seconds(90)) == 35)
        #expect(rate.add(total: 75, at: start + .seconds(200)) == 0)
    }

    @Test func statusLineShowsLiveFiguresAndTroubleOnlyWhenThereIsSome() {
        var queue = QueueStats()
        queue.due = 12
        #expect(
            StatusLine(inFlight: 3, queue: queue, deliveredPerMinute: 140).text
                == "3 in flight, 12 due, 140 delivered/min")
        queue.oldestDueAgeMs = 4_250
        queue.disabledWebhooks = 1
        queue.rejectedEvents = 2
        #expect(
            StatusLine(inFlight: 0, queue: queue, deliveredPerMinute: 0).text
                == "0 in flight, 12 due, 0 delivered/min, oldest due 4.2 s, 1 webhook disabled, 2 rejected outbox rows"
        )
        queue.failingWebhooks = 2
        queue.held = 40
        #expect(
            StatusLine(inFlight: 0, queue: queue, deliveredPerMinute: 0).text
                == "0 in flight, 12 due, 0 delivered/min, oldest due 4.2 s, 2 webhooks failing, "
                + "1 webhook disabled (40 deliveries held), 2 rejected outbox rows"
        )
    }

    @Test func readinessGateOpensOnceEveryExpectedPartReported() {
        let gate = ReadinessGate(expecting: ["delivery"])
        gate.expect("api")
        gate.ready("delivery")
        #expect(!gate.isOpen)
        #expect(gate.waitingFor == ["api"])
        gate.ready("api")
        #expect(gate.isOpen)
        gate.ready("api")
        #expect(gate.isOpen)
    }

    @Test func notifySocketAddresses() {
        #expect(SystemdNotifier.addressBytes("/run/systemd/notify") == Array("/run/systemd/notify".utf8))
        #expect(SystemdNotifier.addressBytes("@abstract") == [0] + Array("abstract".utf8))
        #expect(SystemdNotifier.addressBytes("relative/path") == nil)
        #expect(SystemdNotifier.addressBytes("") == nil)
        #expect(SystemdNotifier.addressBytes("/" + String(repeating: "x", count: 200)) == nil)
        #expect(!SystemdNotifier(environment: [:]).isEnabled)
    }

    @Test(arguments: ["@", "/"])
    func notifierSendsAssignmentsAsOneDatagram(kind: String) async throws {
        let directory = try TemporaryDirectory(prefix: "qr3-notify")
        defer { directory.remove() }
        let sink = try kind == "@" ? DatagramSink.abstract() : DatagramSink(address: directory.file("notify"))
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": sink.address, "WATCHDOG_USEC": "10000000"])
        #expect(notifier.isEnabled)
        notifier.ready(status: "Delivering: 0 in flight")
        let now = ContinuousClock.now
        notifier.watchdogPing(now: now)
        notifier.watchdogPing(now: now + .seconds(1))  // within the 5 s interval: not sent
        notifier.stopping(status: "Stopping", extendBy: .seconds(25))
        let received = try await sink.waitFor("three datagrams") { $0.count >= 3 }
        #expect(
            received.map(\.text) == [
                "READY=1\nSTATUS=Delivering: 0 in flight", "WATCHDOG=1",
                "STOPPING=1\nSTATUS=Stopping\nEXTEND_TIMEOUT_USEC=25000000",
            ])
        await sink.close()
    }

    @Test func newSettingsAreValidatedWithTheirNames() throws {
        var configuration = DaemonConfiguration()
        #expect(configuration.metrics == .api)
        try configuration.apply("metrics-listen", "127.0.0.1:9464")
        #expect(configuration.metrics == .listener(ListenAddress(host: "127.0.0.1", port: 9464)))
        try configuration.apply("metrics-listen", "[::1]:0")
        #expect(configuration.metrics == .listener(ListenAddress(host: "::1", port: 0)))
        try configuration.apply("metrics-listen", "off")
        #expect(configuration.metrics == .off)
        try configuration.apply("metrics-listen", "API")
        #expect(configuration.metrics == .api)
        for bad in ["9464", "::1:9464", "localhost:", "host:65536"] {
            #expect(throws: DaemonConfiguration.InvalidSetting.self) { try configuration.apply("metrics-listen", bad) }
        }
        do {
            try configuration.apply("status-interval", "0")
            Issue.record("status-interval 0 accepted")
        } catch {
            #expect(error.setting == "status-interval")
        }
        try configuration.apply(environment: ["QR3_WEBHOOKD_STATUS_INTERVAL": "0.5"])
        #expect(configuration.statusInterval == 0.5)
    }

    @Test func journalEntriesEncodeMultiLineValuesBinarySafely() throws {
        var entry = JournalEntry()
        entry.append("MESSAGE", "first line\nsecond line")
        entry.append("PRIORITY", "4")
        entry.append("EMPTY", "")
        let bytes = entry.encoded
        var expected = Array("MESSAGE\n".utf8)
        expected += [22, 0, 0, 0, 0, 0, 0, 0]
        expected += Array("first line\nsecond line\nPRIORITY=4\nEMPTY=\n".utf8)
        #expect(bytes == expected)
        #expect(JournalEntry(decoding: bytes) == entry)
        #expect(JournalEntry(decoding: Array("MESSAGE\n\u{5}".utf8)) == nil)
    }

    @Test func metadataKeysBecomeJournalFieldNames() {
        #expect(JournalEntry.fieldName("webhook_id") == "WEBHOOK_ID")
        #expect(JournalEntry.fieldName("response-time.ms") == "RESPONSE_TIME_MS")
        #expect(JournalEntry.fieldName("_private") == "X_PRIVATE")
        #expect(JournalEntry.fieldName("1st") == "X1ST")
        #expect(JournalEntry.fieldName("") == "X")
        #expect(JournalEntry.fieldName(String(repeating: "a", count: 80)).count == 64)
    }

    @Test func journalHandlerSendsStructuredFieldsAndRedactsSecrets() async throws {
        let directory = try TemporaryDirectory(prefix: "qr3-journal")
        defer { directory.remove() }
        let sink = try DatagramSink(address: directory.file("journal"))
        var logger = Logger(label: "qr3-webhookd") { label in
            JournalLogHandler(label: label, level: .debug, socket: JournalSocket(path: sink.address))
        }
        logger[metadataKey: "owner"] = "host:1"
        logger.warning(
            "Cannot do it\nsecond line",
            metadata: ["webhook_id": "wh_1", "secret": "do-not-log-me-0123", "message": "a metadata key named message"]
        )
        let received = try await sink.waitFor("an entry") { !$0.isEmpty }
        let entry = try #require(JournalEntry(decoding: received[0].bytes))
        #expect(entry["MESSAGE"]?.hasPrefix("Cannot do it\nsecond line ") == true)
        #expect(entry["PRIORITY"] == "4")
        #expect(entry["SYSLOG_IDENTIFIER"] == "qr3-webhookd")
        #expect(entry["WEBHOOK_ID"] == "wh_1")
        #expect(entry["OWNER"] == "host:1")
        #expect(entry["SECRET"] == "[redacted]")
        #expect(entry["META_MESSAGE"] == "a metadata key named message")
        #expect(entry["CODE_FILE"]?.hasSuffix("SystemdPartsTests.swift") == true)
        #expect(entry["LOGGER"] == "qr3-webhookd")
        #expect(!received[0].text.contains("do-not-log-me"))
        await sink.close()
    }

    @Test func metricsExpositionCountsAttemptsAndQueueFigures() throws {
        let metrics = DaemonMetrics()
        let job = ClaimedJob(
            jobID: 1, leaseToken: 1, attempt: 1, webhookID: "wh_1", url: "http://127.0.0.1/", secret: "s",
            eventID: "evt_1", eventType: "qr.created", payload: [], eventCreatedAt: .init(milliseconds: 1_000)
        )
        var report = RecordReport()
        report.deliveryIDs = ["whd_1", "whd_2", nil]
        report.finallyFailed = [job]
        metrics.recorded(
            [
                AttemptResult(
                    job: job, outcome: .answered(status: 200, responseTimeMs: 12),
                    finishedAt: .init(milliseconds: 3_500)),
                AttemptResult(
                    job: job, outcome: .answered(status: 503, responseTimeMs: 40),
                    finishedAt: .init(milliseconds: 3_600)),
                AttemptResult(
                    job: job, outcome: .answered(status: 200, responseTimeMs: 1), finishedAt: .init(milliseconds: 3_700)
                ),
            ],
            report: report
        )
        var queue = QueueStats()
        queue.due = 4
        queue.oldestDueAgeMs = 2_500
        queue.disabledWebhooks = 1
        metrics.update(queue: queue)
        metrics.observe(inFlight: { 7 }, busyRetries: { 3 })
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        let samples = MetricsText(text)
        #expect(samples["qr3_webhookd_delivery_attempts_total{outcome=\"success\",failure_class=\"none\"}"] == 1)
        #expect(samples["qr3_webhookd_delivery_attempts_total{outcome=\"failure\",failure_class=\"http_status\"}"] == 1)
        #expect(samples["qr3_webhookd_delivery_response_seconds_count"] == 2)
        #expect(samples["qr3_webhookd_delivery_end_to_end_seconds_count"] == 1)
        #expect(samples["qr3_webhookd_delivery_end_to_end_seconds_sum"] == 2.5)
        #expect(samples["qr3_webhookd_deliveries_failed_total"] == 1)
        #expect(samples["qr3_webhookd_jobs_due"] == 4)
        #expect(samples["qr3_webhookd_oldest_due_age_seconds"] == 2.5)
        #expect(samples["qr3_webhookd_webhooks{state=\"disabled\"}"] == 1)
        #expect(samples["qr3_webhookd_requests_in_flight"] == 7)
        #expect(samples["qr3_webhookd_database_busy_retries_total"] == 3)
        #expect(text.contains("# HELP qr3_webhookd_delivery_attempts_total "))
        #expect(text.contains("# TYPE qr3_webhookd_delivery_response_seconds histogram"))
        // Busy retries are a running total read at each scrape: counted once.
        #expect(
            MetricsText(String(decoding: metrics.exposition(), as: UTF8.self))[
                "qr3_webhookd_database_busy_retries_total"] == 3)
    }
}
