import ArgumentParser

/// The `qr3-webhookd` command: the daemon and the operator's tools around it.
@main
struct QR3Webhookd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qr3-webhookd",
        abstract: "Delivers qr3.app workspace events to webhook endpoints.",
        subcommands: []
    )
}
