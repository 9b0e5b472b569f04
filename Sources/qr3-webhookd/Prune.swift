import ArgumentParser
import WebhookCore
import WebhookStorage

/// `qr3-webhookd prune`: removes what retention no longer keeps, now (the daemon does it on its own).
struct Prune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove delivered events, finished jobs, attempts and rejected rows older than a duration.",
        discussion: """
            The running daemon does this on its own every few seconds (setting `retention`, default 30d); \
            this command is for a one-off clean-up, or to see what would go (--dry-run). It works in small \
            transactions beside a running daemon. Freed space is reused by new rows; the file shrinks only \
            with `sqlite3 FILE VACUUM` while the daemon is stopped.
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "Remove what is older than this (90s, 30m, 12h, 30d).") var olderThan: String = "30d"
    @Option(help: "Remove held deliveries of disabled webhooks older than this (default: --older-than).")
    var heldOlderThan: String?
    @Flag(help: "Count what would be removed, remove nothing.") var dryRun = false
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        guard let age = DurationText.seconds(olderThan) else {
            throw ValidationError("--older-than \"\(olderThan)\" is not a duration like 90s, 30m, 12h or 30d")
        }
        let heldAge = try heldOlderThan.map { text in
            guard let seconds = DurationText.seconds(text) else {
                throw ValidationError("--held-older-than \"\(text)\" is not a duration like 30d")
            }
            return seconds
        }
        let store = try await global.openStore()
        let retention = Duration.milliseconds(Int64(age * 1000))
        let report = try await store.prune(
            PruneRequest(
                now: .now(), retention: retention,
                heldRetention: heldAge.map { .milliseconds(Int64($0 * 1000)) } ?? retention, dryRun: dryRun))
        if json {
            var object = JSONObjectWriter()
            object.add("dry_run", dryRun)
            object.add("attempts", report.attempts)
            object.add("jobs", report.jobs)
            object.add("held_jobs", report.heldJobs)
            object.add("events", report.events)
            object.add("rejected_rows", report.rejectedRows)
            print(object.json)
            return
        }
        print(
            "\(dryRun ? "would remove" : "removed") \(report.attempts) attempts, \(report.jobs) finished jobs, "
                + "\(report.heldJobs) held jobs, \(report.events) events, \(report.rejectedRows) rejected rows"
        )
    }
}
