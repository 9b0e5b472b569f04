import ArgumentParser
import Foundation
import WebhookCore
import WebhookStorage

/// `qr3-webhookd webhooks ...`: manage webhooks from the shell.
struct Webhooks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list, show, update, delete, enable and disable webhooks.",
        subcommands: [Create.self, List.self, Show.self, Update.self, Delete.self, Enable.self, Disable.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a webhook and print it, with its secret (shown only this once)."
        )
        @OptionGroup var global: GlobalOptions
        @Option(help: "The workspace that owns the webhook.") var workspace: String
        @Option(help: "The http(s) URL events are POSTed to.") var url: String
        @Option(help: ArgumentHelp("Comma-separated event types, or *.", valueName: "types")) var events: String = "*"
        @Option(help: "The signing secret, 16 to 256 characters (default: a new random one).") var secret: String?
        @Option(help: secretFileHelp) var secretFile: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let subscription = try parseEvents(events)
            let secret = try givenSecret(secret, file: secretFile) ?? WebhookValidation.generateSecret()
            do throws(WebhookValidation.Invalid) {
                try WebhookValidation.validateWorkspace(workspace)
                try WebhookValidation.validateURL(url)
                try WebhookValidation.validateSecret(secret)
            } catch {
                throw ValidationError(error.message)
            }
            let store = try global.openStore(creating: true)
            let webhook = try await store.createWebhook(
                NewWebhook(workspaceID: workspace, url: url, events: subscription, secret: secret),
                now: .now()
            )
            try printWebhook(webhook, json: json, revealingSecret: true)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List webhooks (secrets are never shown).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this workspace's webhooks.") var workspace: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let store = try global.openStore()
            var webhooks: [Webhook] = []
            var cursor: String?
            repeat {
                let page = try await store.listWebhooks(workspaceID: workspace, limit: 500, startingAfter: cursor)
                webhooks += page.items
                cursor = page.hasMore ? page.items.last?.id : nil
            } while cursor != nil
            if json {
                print(Output.jsonArray(webhooks.map { WebhookRepresentation($0).json }))
                return
            }
            print(
                Output.table(
                    ["ID", "WORKSPACE", "ACTIVE", "FAILURES", "EVENTS", "URL"],
                    webhooks.map { webhook in
                        [
                            webhook.id, webhook.workspaceID, webhook.isActive ? "yes" : "no",
                            String(webhook.consecutiveFailures), webhook.events.names.joined(separator: ","),
                            webhook.url,
                        ]
                    }
                )
            )
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one webhook (the secret only as its hint).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The webhook id (wh_...).") var id: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let store = try global.openStore()
            try printWebhook(try await existing(store, id), json: json)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a webhook's URL, events or secret.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The webhook id (wh_...).") var id: String
        @Option(help: "A new URL.") var url: String?
        @Option(help: ArgumentHelp("New comma-separated event types, or *.", valueName: "types")) var events: String?
        @Option(help: "A new signing secret.") var secret: String?
        @Option(help: secretFileHelp) var secretFile: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let secret = try givenSecret(secret, file: secretFile)
            guard url != nil || events != nil || secret != nil else {
                throw ValidationError("nothing to change: give --url, --events, --secret or --secret-file")
            }
            do throws(WebhookValidation.Invalid) {
                if let url { try WebhookValidation.validateURL(url) }
                if let secret { try WebhookValidation.validateSecret(secret) }
            } catch {
                throw ValidationError(error.message)
            }
            let changes = WebhookChanges(url: url, events: try events.map(parseEvents), secret: secret)
            let store = try global.openStore()
            guard let webhook = try await store.updateWebhook(id: id, workspaceID: nil, changes: changes, now: .now())
            else { throw CommandFailure("no webhook \(id)") }
            try printWebhook(webhook, json: json)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a webhook; its queued deliveries stop.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The webhook id (wh_...).") var id: String

        func run() async throws {
            let store = try global.openStore()
            guard try await store.deleteWebhook(id: id, workspaceID: nil, now: .now()) else {
                throw CommandFailure("no webhook \(id)")
            }
            print("deleted \(id)")
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-activate a webhook: failure count reset, paused deliveries resumed."
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The webhook id (wh_...).") var id: String

        func run() async throws {
            try await setActive(global, id, true)
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disable a webhook: its deliveries are paused and kept until it is enabled."
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The webhook id (wh_...).") var id: String

        func run() async throws {
            try await setActive(global, id, false)
        }
    }
}

private func setActive(_ global: GlobalOptions, _ id: String, _ active: Bool) async throws {
    let store = try global.openStore()
    _ = try await existing(store, id)
    guard
        let webhook = try await store.updateWebhook(
            id: id, workspaceID: nil, changes: WebhookChanges(isActive: active), now: .now()
        )
    else { throw CommandFailure("no webhook \(id)") }
    print("\(webhook.id) is \(webhook.isActive ? "active" : "disabled")")
}

private func existing(_ store: SQLiteWebhookStore, _ id: String) async throws -> Webhook {
    guard let webhook = try await store.webhook(id: id, workspaceID: nil) else {
        throw CommandFailure("no webhook \(id)")
    }
    return webhook
}

private func parseEvents(_ text: String) throws -> EventSubscription {
    let names = text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
    do throws(EventSubscription.Invalid) {
        return try EventSubscription(validating: names)
    } catch {
        throw ValidationError(error.message)
    }
}

private func printWebhook(_ webhook: Webhook, json: Bool, revealingSecret: Bool = false) throws {
    if json {
        print(WebhookRepresentation(webhook, revealingSecret: revealingSecret).json)
        return
    }
    var lines = [
        "id:          \(webhook.id)",
        "workspace:   \(webhook.workspaceID)",
        "url:         \(webhook.url)",
        "events:      \(webhook.events.names.joined(separator: ", "))",
        "active:      \(webhook.isActive ? "yes" : "no")",
        "failures:    \(webhook.consecutiveFailures) consecutive",
    ]
    if let reason = webhook.disabledReason, let at = webhook.disabledAt {
        lines.append("disabled:    \(at.iso8601) (\(reason))")
    }
    lines.append(
        revealingSecret ? "secret:      \(webhook.secret)  (shown only now)" : "secret:      \(webhook.secretHint)")
    lines.append("created:     \(webhook.createdAt.iso8601)")
    print(lines.joined(separator: "\n"))
}

private let secretFileHelp = ArgumentHelp(
    "Read the signing secret from this file, or from standard input with -: a secret given on the command line shows in ps and in the shell's history.",
    valueName: "path"
)

/// The secret given with `--secret` or read from `--secret-file` (one trailing newline dropped),
/// or nil when neither was given.
private func givenSecret(_ secret: String?, file: String?) throws -> String? {
    guard let file else { return secret }
    guard secret == nil else { throw ValidationError("give --secret or --secret-file, not both") }
    let data: Data
    if file == "-" {
        data = FileHandle.standardInput.readDataToEndOfFile()
    } else {
        guard let contents = FileManager.default.contents(atPath: file) else {
            throw ValidationError("cannot read the secret file \(file)")
        }
        data = contents
    }
    var text = String(decoding: data, as: UTF8.self)
    // "\r\n" is one Character in Swift: removeLast drops either ending whole.
    if text.hasSuffix("\r\n") || text.hasSuffix("\n") { text.removeLast() }
    return text
}
