import Foundation
import Testing
import WebhookDaemon
import WebhookTestSupport

/// The real binary logging to a fake journald: a native-protocol socket the test owns, and
/// `JOURNAL_STREAM` naming the daemon's standard error as systemd sets it.
@Suite(.timeLimit(.minutes(2))) struct JournalLoggingTests {
    @Test func entriesCarryStructuredFieldsThatJournalctlCanFilterOn() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let receiver = try await TestReceiver.start { _ in .status(202) }
        defer { Task { try? await receiver.shutdown() } }
        let webhook = try harness.createWebhook(url: receiver.url, secret: "journal-secret-0123456789")
        let sink = try DatagramSink(address: harness.directory.file("journal.socket"))
        let daemon = try DaemonProcess(
            arguments: harness.baseArguments,
            environment: [DaemonLogging.journalSocketVariable: sink.address],
            standardErrorIsJournal: true
        )
        defer { daemon.stop() }

        let started = try await entry(in: sink, message: "qr3-webhookd started")
        #expect(started["PRIORITY"] == "6")
        #expect(started["SYSLOG_IDENTIFIER"] == "qr3-webhookd")
        #expect(started["DATABASE"] == harness.databasePath)
        #expect(started["VERSION"] == qr3WebhookdVersion)
        #expect(started["CODE_FILE"]?.hasSuffix("Daemon.swift") == true)
        #expect(started["CODE_LINE"].flatMap { Int($0) } != nil)

        try harness.insert([("ws_test", "qr.scanned", "{\"code_id\":\"qr_1\"}")], eventIDs: ["evt_journal"])
        let delivered = try await entry(in: sink, message: "Delivered")
        #expect(delivered["PRIORITY"] == "7", "each attempt is debug")
        #expect(delivered["WEBHOOK_ID"] == webhook)
        #expect(delivered["EVENT_ID"] == "evt_journal")
        #expect(delivered["EVENT_TYPE"] == "qr.scanned")
        #expect(delivered["STATUS_CODE"] == "202")
        #expect(delivered["ATTEMPT"] == "1")
        #expect(delivered["DELIVERY_ID"]?.hasPrefix("whd_") == true)
        #expect(delivered["MESSAGE"]?.hasPrefix("Delivered ") == true)

        // A producer's value with a newline arrives whole in its field (the binary-safe form),
        // and escaped in the MESSAGE line.
        try harness.insert([("ws_test\nsecond line", "qr.created", "{}")])
        let rejected = try await entry(in: sink, message: "Outbox row rejected")
        #expect(rejected["PRIORITY"] == "4", "a rejected outbox row is a warning")
        #expect(rejected["WORKSPACE_ID"] == "ws_test\nsecond line")
        #expect(rejected["MESSAGE"]?.contains(#"workspace_id="ws_test\nsecond line""#) == true)
        #expect(rejected["REASON"]?.isEmpty == false)
        let raw = try #require(sink.datagrams.first { $0.text.contains("Outbox row rejected") })
        #expect(raw.text.contains("WORKSPACE_ID\n"), "written as NAME, newline, 64-bit length, value")

        daemon.send(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
        _ = try await entry(in: sink, message: "qr3-webhookd stopped")
        #expect(!daemon.log.contains("qr3-webhookd started"), "entries went to the journal, not to standard error")
        let everything = sink.datagrams.map(\.text).joined()
        #expect(!everything.contains("journal-secret-0123456789"), "secrets are never logged")
        await sink.close()
    }

    @Test func aJournalStreamOfAnotherFileMeansPlainLinesOnStandardError() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let sink = try DatagramSink(address: harness.directory.file("journal.socket"))
        // Inherited from a parent whose standard error was the journal; ours is a pipe.
        let daemon = try DaemonProcess(
            arguments: harness.baseArguments,
            environment: [DaemonLogging.journalSocketVariable: sink.address, "JOURNAL_STREAM": "8:12345"]
        )
        defer { daemon.stop() }
        try await daemon.waitForLog("<6>qr3-webhookd started ")
        daemon.send(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
        #expect(sink.datagrams.isEmpty)
        await sink.close()
    }

    @Test func entriesTheJournalDoesNotTakeFallBackToStandardError() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let daemon = try DaemonProcess(
            arguments: harness.baseArguments,
            environment: [DaemonLogging.journalSocketVariable: harness.directory.file("no-journald-here")],
            standardErrorIsJournal: true
        )
        defer { daemon.stop() }
        try await daemon.waitForLog("<6>qr3-webhookd started ")
        daemon.send(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
    }

    /// The first entry whose MESSAGE starts with `message`, waiting for it.
    private func entry(in sink: DatagramSink, message: String) async throws -> JournalEntry {
        let matches: @Sendable (DatagramSink.Datagram) -> Bool = { datagram in
            JournalEntry(decoding: datagram.bytes)?["MESSAGE"]?.hasPrefix(message) == true
        }
        let datagrams = try await sink.waitFor("a journal entry \"\(message)\"") { $0.contains(where: matches) }
        return try #require(datagrams.first(where: matches).flatMap { JournalEntry(decoding: $0.bytes) })
    }
}
