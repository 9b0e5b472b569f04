import ArgumentParser
import Foundation
import Logging
import WebhookCore
import WebhookStores

/// `qr3-webhookd copy`: moves an installation from an SQLite file to PostgreSQL.
struct Copy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy an SQLite database into PostgreSQL: webhooks, API keys, pending and held deliveries.",
        discussion: """
            Copies every webhook (deleted ones too), API key, outbox row not yet taken in, the key that \
            derives event ids, and pending and held deliveries with their events (a delivery in flight is \
            copied as due now); with --with-log also every attempt, finished delivery and rejected outbox row. \
            The SQLite file is read as one snapshot: deliveries made after it are not copied, so stop the \
            daemon first, then start daemons with --database postgresql://... . The target is written in \
            one transaction (a failed copy leaves it as it was); its schema is created if missing. A target \
            that already holds webhooks, API keys, jobs or outbox rows is refused unless --into-non-empty. \
            The password comes from --database-password-file, QR3_WEBHOOKD_DATABASE_PASSWORD(_FILE), the \
            URL or libpq's PGPASSWORD and ~/.pgpass; it is never printed.
            """
    )

    @Option(help: ArgumentHelp("The SQLite database file to copy from.", valueName: "file"))
    var from: String
    @Option(help: ArgumentHelp("The PostgreSQL database to copy into.", valueName: "postgresql://..."))
    var to: String
    @Option(
        name: .customLong("database-password-file"),
        help: ArgumentHelp("A file whose first line is the PostgreSQL password.", valueName: "path"))
    var databasePasswordFile: String?
    @Flag(help: "Also copy the delivery log: attempts, finished deliveries and their events, rejected outbox rows.")
    var withLog = false
    @Flag(help: "Copy into a database that already holds data; rows whose key is already there are skipped.")
    var intoNonEmpty = false
    @Option(help: ArgumentHelp("Rows per INSERT statement.", visibility: .hidden)) var batchSize: Int = 2_000
    @Flag(help: "Print the summary as JSON (progress goes to standard error).") var json = false

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() async throws {
        LoggingSystem.bootstrapOnce(level: .warning)
        var options = StoreCopy.Options()
        options.withLog = withLog
        options.intoNonEmpty = intoNonEmpty
        options.batchSize = batchSize
        options.passwordFile = databasePasswordFile
        let json = json
        let copy = StoreCopy(from: from, to: to, options: options)
        let report: StoreCopyReport
        do {
            report = try await copy.run(logger: Logger(label: "qr3-webhookd")) { progress in
                let line =
                    "\(progress.table): \(progress.copied) copied"
                    + (progress.skipped > 0 ? ", \(progress.skipped) skipped (already there)" : "")
                    + (progress.finished ? "" : " so far")
                if json {
                    FileHandle.standardError.write(Data((line + "\n").utf8))
                } else {
                    print(line)
                }
            }
        } catch let refusal as StoreCopyRefusal {
            throw CommandFailure(refusal.description)
        } catch {
            throw CommandFailure("copy failed, nothing was written to the target: \(error)")
        }
        let seconds = Double(report.elapsed.components.seconds) + Double(report.elapsed.components.attoseconds) / 1e18
        if json {
            var tables = JSONObjectWriter()
            for table in report.tables {
                var figures = JSONObjectWriter()
                figures.add("copied", table.copied)
                figures.add("skipped", table.skipped)
                tables.add(table.name, raw: figures.json)
            }
            var object = JSONObjectWriter()
            object.add("source", report.source)
            object.add("target", report.target)
            object.add("with_log", withLog)
            object.add("tables", raw: tables.json)
            object.add("copied", report.copied)
            object.add("skipped", report.skipped)
            object.add("event_id_key_copied", report.eventIDKeyCopied)
            object.add("elapsed_ms", Int(seconds * 1000))
            print(object.json)
            return
        }
        print(
            "copied \(report.copied) rows from \(report.source) to \(report.target) in "
                + String(format: "%.1f s", seconds)
                + (report.skipped > 0 ? "; skipped \(report.skipped) rows already there" : ""))
        if !report.eventIDKeyCopied {
            print(
                "note: the target keeps its own event-id key: events without an event_id that a producer "
                    + "sends again are not recognised as ones taken in before the copy")
        }
        if !withLog {
            print("the delivery log was not copied (--with-log copies it)")
        }
    }
}
