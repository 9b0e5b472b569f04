import ArgumentParser
import WebhookCore
import WebhookStorage

/// `qr3-webhookd emit`: add an event to the outbox, as a producer's INSERT does.
struct Emit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add an event to the outbox from the shell, exactly like a producer's INSERT.",
        discussion: """
            Example: qr3-webhookd emit --workspace ws_demo --type qr.scanned --data '{"code_id":"qr_1"}'
            The event is checked when the daemon takes it in; a bad one is set aside with a reason
            (see `qr3-webhookd status`). This command checks it first and refuses it with that reason.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "The workspace the event belongs to.")
    var workspace: String

    @Option(help: ArgumentHelp("The event type, e.g. qr.scanned.", valueName: "type"))
    var type: String

    @Option(help: ArgumentHelp("The event's data: a JSON object.", valueName: "json"))
    var data: String

    @Option(name: .customLong("event-id"), help: "Your own event id, to make retries of this command idempotent.")
    var eventID: String?

    func run() async throws {
        let row = OutboxRow(
            sequence: 0,
            eventID: eventID,
            workspaceID: workspace,
            type: type,
            data: Array(data.utf8),
            createdAt: .now()
        )
        if case .failure(let rejection) = OutboxValidator().validate(row) {
            throw ValidationError(rejection.reason)
        }
        let store = try await global.openStore(creating: true)
        let sequence = try await store.enqueue(row)
        print("queued outbox row \(sequence)" + (eventID.map { " (event \($0))" } ?? ""))
    }
}
