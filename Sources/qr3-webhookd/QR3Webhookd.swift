import ArgumentParser

/// The `qr3-webhookd` command: the daemon and the operator's tools around it.
@main
struct QR3Webhookd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qr3-webhookd",
        abstract: "Delivers qr3.app workspace events to webhook endpoints.",
        discussion: """
            Producers insert events into the outbox table of the SQLite database; the daemon signs
            them and POSTs them to the workspace's webhooks, retrying failures and recording every
            attempt. Every command takes --database (or QR3_WEBHOOKD_DATABASE).
            """,
        version: qr3WebhookdVersionString,
        subcommands: [
            Run.self, Migrate.self, Emit.self, Webhooks.self, Deliveries.self, Status.self, Prune.self, APIKeys.self,
            Copy.self,
        ],
        defaultSubcommand: Run.self
    )
}
