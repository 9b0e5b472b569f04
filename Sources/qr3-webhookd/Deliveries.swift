import ArgumentParser
import WebhookCore
import WebhookStorage

/// `qr3-webhookd deliveries WEBHOOK_ID`: the delivery log.
struct Deliveries: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a webhook's delivery attempts, newest first.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The webhook id (wh_...).") var webhookID: String
    @Option(help: "How many attempts to show.") var limit: Int = 50
    @Option(help: "Only success or failed attempts.") var status: String?
    @Option(name: .customLong("event-type"), help: "Only attempts for this event type.") var eventType: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be from 1 to 10000") }
        var succeeded: Bool?
        switch status {
        case nil: break
        case "success": succeeded = true
        case "failed": succeeded = false
        case let other?: throw ValidationError("--status must be success or failed, not \(other)")
        }
        let store = try await global.openStore()
        guard try await store.webhook(id: webhookID, workspaceID: nil) != nil else {
            throw CommandFailure("no webhook \(webhookID)")
        }
        let page = try await store.deliveries(
            DeliveryQuery(webhookID: webhookID, limit: limit, succeeded: succeeded, eventType: eventType)
        )
        if json {
            print(Output.jsonArray(page.items.map { DeliveryRepresentation($0).json }))
            return
        }
        print(
            Output.table(
                [
                    "ID", "TIME", "EVENT", "TYPE", "ATTEMPT", "STATUS", "CODE", "MS", "FAILURE", "NEXT RETRY", "REMOTE",
                    "DNS/CONNECT/TLS/FIRST BYTE MS",
                ],
                page.items.map { attempt in
                    [
                        attempt.id, attempt.createdAt.iso8601, attempt.eventID, attempt.eventType,
                        String(attempt.attempt), attempt.succeeded ? "success" : "failed",
                        attempt.statusCode.map(String.init) ?? "-", String(attempt.responseTimeMs),
                        attempt.failure?.rawValue ?? "-", attempt.nextRetryAt?.iso8601 ?? "-",
                        attempt.remoteAddress ?? "-", Self.steps(attempt.timings),
                    ]
                }
            )
        )
    }

    /// `0.05/0.2/-/3.1`: the milliseconds to the end of each step, `-` for one never reached.
    static func steps(_ timings: TransferTimings) -> String {
        [timings.nameLookup, timings.connect, timings.tls, timings.firstByte]
            .map { $0.map(TransferTimings.milliseconds) ?? "-" }.joined(separator: "/")
    }
}
