import ArgumentParser
import WebhookStorage

/// `qr3-webhookd migrate`: bring the database schema up to date.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the database or apply pending migrations, then exit (the daemon also does this at start)."
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let store = try await global.openStore(creating: true)
        print("database \(try global.location) is at schema version \(store.schemaVersion)")
    }
}
