import Foundation
import GRDB
import Testing
import WebhookCore
import WebhookTestSupport

/// Outbox rows and command lines that are wrong, through the real daemon and CLI: each is set
/// aside (or refused) with a reason that says what is wrong, the daemon never crashes, and the
/// good rows around the bad ones are delivered.
@Suite(.timeLimit(.minutes(3))) struct BadInputTests {
    /// A bad outbox row: SQL expressions for the columns that differ from a good row, and a
    /// piece of the reason it must be rejected with.
    struct BadRow: CustomStringConvertible, Sendable {
        let name: String
        let columns: [String: String]
        let reason: String

        var description: String { name }
    }

    /// Every kind of bad row tried; `README` "The outbox contract" is what they break.
    static let badRows: [BadRow] = [
        BadRow(name: "invalid JSON", columns: ["data": "'{broken'"], reason: "data is not valid JSON"),
        BadRow(name: "truncated JSON", columns: ["data": #"'{"a":'"#], reason: "data is not valid JSON"),
        BadRow(name: "two documents", columns: ["data": "'{} {}'"], reason: "data is not valid JSON"),
        BadRow(name: "empty data", columns: ["data": "''"], reason: "data is not valid JSON"),
        BadRow(name: "unknown type", columns: ["type": "'qr.exploded'"], reason: "is not a known event type"),
        BadRow(name: "type in upper case", columns: ["type": "'QR.CREATED'"], reason: "is not a known event type"),
        BadRow(name: "integer type", columns: ["type": "7"], reason: "is not a known event type"),
        BadRow(name: "missing type", columns: ["type": "NULL"], reason: "type is missing"),
        BadRow(
            name: "ping without a target", columns: ["type": "'webhook.ping'"], reason: "only through the ping endpoint"
        ),
        BadRow(
            name: "ping to a webhook that does not exist",
            columns: ["type": "'webhook.ping'", "target_webhook_id": "'wh_missing'"],
            reason: "target webhook wh_missing does not exist"
        ),
        BadRow(name: "array data", columns: ["data": "'[1,2]'"], reason: "data must be a JSON object, not array"),
        BadRow(name: "string data", columns: ["data": #"'"text"'"#], reason: "data must be a JSON object, not string"),
        BadRow(name: "null data", columns: ["data": "'null'"], reason: "data must be a JSON object, not null"),
        BadRow(name: "integer data", columns: ["data": "42"], reason: "data must be a JSON object, not number"),
        BadRow(name: "real data", columns: ["data": "4.5"], reason: "data must be a JSON object, not number"),
        BadRow(name: "missing data", columns: ["data": "NULL"], reason: "data is missing"),
        BadRow(name: "missing workspace", columns: ["workspace_id": "NULL"], reason: "workspace_id is missing"),
        BadRow(name: "empty workspace", columns: ["workspace_id": "''"], reason: "workspace_id is missing"),
        BadRow(name: "workspace with a space", columns: ["workspace_id": "'ws test'"], reason: "workspace_id must be"),
        BadRow(
            name: "workspace too long",
            columns: ["workspace_id": "'" + String(repeating: "w", count: 129) + "'"],
            reason: "workspace_id must be"
        ),
        BadRow(name: "workspace as invalid UTF-8", columns: ["workspace_id": "X'FF'"], reason: "workspace_id must be"),
        BadRow(
            name: "data over the limit",
            columns: ["data": #"'{"pad":"' || hex(zeroblob(3000)) || '"}'"#],
            reason: "more than the limit of 4096"
        ),
        BadRow(
            name: "invalid UTF-8 as a BLOB", columns: ["data": "X'7B2261223A22FF227D'"],
            reason: "data is not valid JSON"),
        BadRow(
            name: "invalid UTF-8 cast to TEXT",
            columns: ["data": "CAST(X'7B2261223A22C328227D' AS TEXT)"],
            reason: "data is not valid JSON"
        ),
        BadRow(name: "overlong UTF-8", columns: ["data": "X'7B2261223A22C0AF227D'"], reason: "data is not valid JSON"),
        BadRow(
            name: "NUL inside a string", columns: ["data": "X'7B2261223A2200227D'"], reason: "data is not valid JSON"),
        BadRow(
            name: "nesting too deep",
            columns: [
                "data":
                    #"'{"a":' || replace(hex(zeroblob(100)), '00', '[') || replace(hex(zeroblob(100)), '00', ']') || '}'"#
            ],
            reason: "nesting deeper than"
        ),
        BadRow(name: "event id with a space", columns: ["event_id": "'evt 1'"], reason: "event_id must be"),
        BadRow(
            name: "event id too long",
            columns: ["event_id": "'" + String(repeating: "e", count: 129) + "'"],
            reason: "event_id must be"
        ),
        BadRow(name: "event id as invalid UTF-8", columns: ["event_id": "X'FF'"], reason: "event_id must be"),
        BadRow(name: "created_at as text", columns: ["created_at": "'yesterday'"], reason: "created_at must be"),
        BadRow(
            name: "created_at as ISO 8601 text", columns: ["created_at": "'2026-03-15T10:00:00Z'"],
            reason: "created_at must be"),
        BadRow(name: "created_at as a BLOB", columns: ["created_at": "X'00'"], reason: "created_at must be"),
        BadRow(name: "created_at with a fraction", columns: ["created_at": "1.5"], reason: "created_at must be"),
        BadRow(name: "created_at before 1970", columns: ["created_at": "-1"], reason: "created_at must be"),
        BadRow(
            name: "created_at the smallest integer", columns: ["created_at": "-9223372036854775808"],
            reason: "created_at must be"),
        BadRow(
            name: "created_at the largest integer", columns: ["created_at": "9223372036854775807"],
            reason: "created_at must be"),
    ]

    /// Every bad row, each between two good ones: the bad rows are set aside with their reasons,
    /// the good ones delivered, the daemon alive, and `status` still readable.
    @Test func everyKindOfBadRowIsSetAsideWithItsReasonAndGoodRowsFlow() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let receiver = try await TestReceiver.start()
        defer { Task { try? await receiver.shutdown() } }
        _ = try await harness.addWebhook(url: receiver.url)
        let daemon = try await harness.startDaemon(["--max-event-bytes", "4096"])
        defer { daemon.stop() }

        let goodIDs = Self.badRows.indices.map { "evt_good_\($0)" } + ["evt_good_last"]
        let sequences = try await harness.producer().write { db in
            var sequences: [Int64] = []
            for (index, bad) in Self.badRows.enumerated() {
                try Self.insertGood(db, id: goodIDs[index])
                var columns: [String: String] = ["workspace_id": "'ws_test'", "type": "'qr.created'", "data": "'{}'"]
                columns.merge(bad.columns) { $1 }
                let names = columns.keys.sorted()
                try db.execute(
                    sql:
                        "INSERT INTO outbox (\(names.joined(separator: ", "))) VALUES (\(names.map { columns[$0]! }.joined(separator: ", ")))"
                )
                sequences.append(db.lastInsertedRowID)
            }
            try Self.insertGood(db, id: "evt_good_last")
            return sequences
        }
        let expectedReasons = Dictionary(uniqueKeysWithValues: zip(sequences, Self.badRows))

        let received = try await receiver.waitForRequests(count: goodIDs.count, timeout: .seconds(30))
        #expect(Set(received.compactMap { $0.header("X-QR3-Event-Id") }) == Set(goodIDs))
        try await daemon.waitForLog("Outbox row rejected", occurrences: Self.badRows.count)

        let reasons = try await harness.producer().read { db in
            try Row.fetchAll(db, sql: "SELECT seq, reason FROM rejected_events").map { row in
                (row["seq"] as Int64, row["reason"] as String)
            }
        }
        #expect(reasons.count == Self.badRows.count)
        for (sequence, reason) in reasons {
            let bad = try #require(expectedReasons[sequence])
            #expect(reason.contains(bad.reason), "\(bad.name): rejected with \"\(reason)\"")
        }
        #expect(daemon.exitStatus == nil, "the daemon is still running")
        #expect(receiver.requests.count == goodIDs.count, "each good row delivered once, no bad one")

        // The operator's view of the rejected rows works whatever the producer stored.
        let status = try await harness.statusReport()
        #expect(status["rejected_events"] as? Int == Self.badRows.count)
        let text = try await harness.runCLI(["status", "--rejected", "100"])
        #expect(text.stdout.contains("rejected rows:      \(Self.badRows.count)"))

        daemon.send(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
    }

    /// Thousands of bad rows in a row do not hold up the good row behind them.
    @Test func aLongRunOfBadRowsDoesNotBlockTheGoodOnes() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let receiver = try await TestReceiver.start()
        defer { Task { try? await receiver.shutdown() } }
        _ = try await harness.addWebhook(url: receiver.url)
        let daemon = try await harness.startDaemon(["--log-level", "info"])
        defer { daemon.stop() }

        let badCount = 5000
        try await harness.producer().write { db in
            try Self.insertGood(db, id: "evt_before")
            let statement = try db.makeStatement(
                sql: "INSERT INTO outbox (workspace_id, type, data) VALUES ('ws_test', ?, ?)")
            for index in 0..<badCount {
                // Alternate the kinds, so the run is not one repeated mistake.
                switch index % 4 {
                case 0: try statement.execute(arguments: ["qr.created", "{oops \(index)"])
                case 1: try statement.execute(arguments: ["qr.nope", "{}"])
                case 2: try statement.execute(arguments: ["qr.created", "[\(index)]"])
                default: try statement.execute(arguments: ["qr.created", nil])
                }
            }
            try Self.insertGood(db, id: "evt_after")
        }
        let received = try await receiver.waitForRequests(count: 2, timeout: .seconds(60))
        #expect(Set(received.compactMap { $0.header("X-QR3-Event-Id") }) == ["evt_before", "evt_after"])
        try await harness.eventually(timeout: .seconds(60), "every bad row set aside") {
            try harness.count("SELECT COUNT(*) FROM rejected_events") == badCount
        }
        #expect(try await harness.statusReport()["outbox_backlog"] as? Int == 0)
        #expect(daemon.exitStatus == nil)
        daemon.send(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
    }

    /// Rows far over the size limit are set aside without the daemon reading them into memory.
    @Test func oversizedRowsAreSetAsideWithoutLoadingThem() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let receiver = try await TestReceiver.start()
        defer { Task { try? await receiver.shutdown() } }
        _ = try await harness.addWebhook(url: receiver.url)
        let daemon = try await harness.startDaemon(["--log-level", "info"])
        defer { daemon.stop() }
        try harness.insert([("ws_test", "qr.created", "{}")], eventIDs: ["evt_warmup"])
        _ = try await receiver.waitForRequests(count: 1)
        let before = try #require(daemon.memory)

        // 64 rows of 1 MiB: reading them whole would grow the daemon by 64 MiB or more. Read one
        // at a time (SQLite reads a row's data to measure it; it never reaches Swift) the growth
        // does not depend on the number of rows: the writer's page cache filling to its 8 MiB,
        // the readers' to 2 MiB each, and the allocator keeping a freed 1 MiB buffer or two per
        // thread. That came to 23-28 MiB here, and once 33 on a loaded machine.
        let rows = 64
        try await harness.producer().write { db in
            for _ in 0..<rows {
                try db.execute(
                    sql:
                        #"INSERT INTO outbox (workspace_id, type, data) VALUES ('ws_test', 'qr.created', '{"pad":"' || hex(zeroblob(524288)) || '"}')"#
                )
            }
            try Self.insertGood(db, id: "evt_after_big")
        }
        _ = try await receiver.waitForRequests(count: 2, timeout: .seconds(60))
        try await harness.eventually(timeout: .seconds(60), "the big rows set aside") {
            try harness.count("SELECT COUNT(*) FROM rejected_events") == rows
        }
        let after = try #require(daemon.memory)
        let grownMiB = (after.peakResidentKiB - before.peakResidentKiB) / 1024
        #expect(grownMiB < rows * 3 / 4, "peak memory grew by \(grownMiB) MiB (before: \(before); after: \(after))")
        let reasons = try await harness.producer().read { db in
            try String.fetchAll(db, sql: "SELECT reason FROM rejected_events")
        }
        #expect(reasons.allSatisfy { $0.contains("more than the limit of 262144") })
        let kept = try await harness.producer().read { db in
            try Int.fetchOne(db, sql: "SELECT MIN(length(data)) FROM rejected_events")
        }
        #expect(kept == 4096, "the rejected row keeps the first 4 KiB of its data for the operator, not megabytes")
        print("oversized rows: \(rows) of 1 MiB set aside; daemon peak memory grew by \(grownMiB) MiB")
    }

    /// Wrong command lines: each exits non-zero (not by a crash) with a message that names the problem.
    @Test func badCommandLinesAreRefusedWithAClearMessage() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let webhook = try await harness.addWebhook(url: "http://127.0.0.1:9/hook")
        let folder = harness.directory
        let garbage = folder.file("garbage.sqlite")
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: garbage))
        let badConfig = folder.file("bad.conf")
        try "concurrency = 4\nthis line has no equals sign\n".write(
            toFile: badConfig, atomically: true, encoding: .utf8)
        let unknownSetting = folder.file("unknown.conf")
        try "colour = blue\n".write(toFile: unknownSetting, atomically: true, encoding: .utf8)
        let newer = folder.file("newer.sqlite")
        _ = try await runToolInBackground(DaemonProcess.executablePath, ["migrate", "--database", newer])
        try await DatabaseQueue(path: newer).write { db in
            try db.execute(sql: "INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future')")
        }

        // (arguments, a piece of the message); `--database` is added unless the case gives one.
        let cases: [([String], String)] = [
            (["run", "--concurrency", "lots"], "concurrency"),
            (["run", "--concurrency", "0"], "concurrency"),
            (["run", "--concurrency", "99999999999999999999999"], "concurrency"),
            (["run", "--lease", "5", "--request-timeout", "10"], "lease"),
            (["run", "--connect-timeout", "20", "--request-timeout", "10"], "connect-timeout"),
            (["run", "--request-timeout", "nan"], "request-timeout"),
            (["run", "--request-timeout", "inf"], "request-timeout"),
            (["run", "--allow-networks", "10.0.0.0/33"], "allow-networks"),
            (["run", "--allow-networks", "localhost"], "allow-networks"),
            (["run", "--synchronous", "OFF"], "synchronous"),
            (["run", "--log-level", "loud"], "log-level"),
            (["run", "--retry-schedule", ""], "retry"),
            (["run", "--retry-schedule", "0,,60"], "retry schedule entry"),
            (["run", "--retry-schedule", "1e309"], "retry schedule entry"),
            (["run", "--max-event-bytes", "1"], "max-event-bytes"),
            (["run", "--poll-interval", "0"], "poll-interval"),
            (["run", "--config", folder.file("missing.conf")], "cannot read the configuration file"),
            (["run", "--config", badConfig], "expected `name = value`"),
            (["run", "--config", unknownSetting], "there is no such setting"),
            (["run", "--no-such-flag"], "no-such-flag"),
            (["frobnicate"], "frobnicate"),
            (["run", "--database", folder.file("no/such/folder/db.sqlite")], "cannot create the database file"),
            (["run", "--database", folder.path], "database"),
            (["run", "--database", garbage], "not a database"),
            (["run", "--database", newer], "newer qr3-webhookd"),
            (["status", "--database", garbage], "not a database"),
            (
                ["status", "--database", folder.file("mistyped.sqlite")],
                "no database at \(folder.file("mistyped.sqlite"))"
            ),
            (["webhooks", "list", "--database", folder.file("mistyped.sqlite")], "migrate"),
            (["deliveries", "wh_x", "--database", folder.file("mistyped.sqlite")], "no database at"),
            (
                ["api-keys", "list", "--workspace", "ws", "--database", folder.file("mistyped.sqlite")],
                "no database at"
            ),
            (["webhooks", "enable", "wh_x", "--database", folder.file("mistyped.sqlite")], "no database at"),
            (["webhooks", "create", "--workspace", "ws", "--url", "ftp://example.com/"], "url must be"),
            (
                ["webhooks", "create", "--workspace", "ws", "--url", "https://user:pw@example.com/"],
                "user name or password"
            ),
            (["webhooks", "create", "--workspace", "bad ws", "--url", "https://example.com/"], "workspace must be"),
            (
                ["webhooks", "create", "--workspace", "ws", "--url", "https://example.com/", "--secret", "short"],
                "secret must be"
            ),
            (
                ["webhooks", "create", "--workspace", "ws", "--url", "https://example.com/", "--events", "qr.nope"],
                "qr.nope"
            ),
            (["webhooks", "create", "--workspace", "ws"], "--url"),
            (["webhooks", "show", "wh_missing"], "no webhook wh_missing"),
            (["webhooks", "update", webhook], "nothing to change"),
            (["webhooks", "update", webhook, "--url", "not a url"], "url must be"),
            (["webhooks", "enable", "wh_missing"], "no webhook wh_missing"),
            (["deliveries", "wh_missing"], "no webhook wh_missing"),
            (["deliveries", webhook, "--limit", "0"], "--limit"),
            (["deliveries", webhook, "--limit", "-5"], "limit"),
            (["deliveries", webhook, "--status", "maybe"], "--status"),
            (["emit", "--workspace", "ws", "--type", "qr.created", "--data", "[1]"], "must be a JSON object"),
            (["emit", "--workspace", "ws", "--type", "qr.created", "--data", "{"], "not valid JSON"),
            (["emit", "--workspace", "ws", "--type", "qr.created", "--data", "{}", "--event-id", "a b"], "event_id"),
        ]
        for (arguments, message) in cases {
            let full = arguments.contains("--database") ? arguments : arguments + ["--database", harness.databasePath]
            let result = try await runToolInBackground(DaemonProcess.executablePath, full)
            let shown = "qr3-webhookd \(arguments.joined(separator: " "))"
            #expect(
                result.status == 1 || result.status == 64, "\(shown) exited with \(result.status): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(shown) should say \"\(message)\", said: \(result.stderr)")
            #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Stack dump"), "\(shown) crashed")
        }
        #expect(FileManager.default.fileExists(atPath: folder.file("no/such/folder")) == false)
        #expect(
            FileManager.default.fileExists(atPath: folder.file("mistyped.sqlite")) == false,
            "a command that only reads or changes what exists creates no database")
        // Commands that add something create the database where there is none.
        let fresh = folder.file("fresh.sqlite")
        let created = try await runToolInBackground(
            DaemonProcess.executablePath,
            ["webhooks", "create", "--workspace", "ws", "--url", "https://example.com/hook", "--database", fresh])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(FileManager.default.fileExists(atPath: fresh))
    }

    private static func insertGood(_ db: Database, id: String) throws {
        try db.execute(
            sql: "INSERT INTO outbox (event_id, workspace_id, type, data) VALUES (?, 'ws_test', 'qr.created', ?)",
            arguments: [id, #"{"ok":true}"#]
        )
    }
}
