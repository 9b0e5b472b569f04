import ArgumentParser
import Foundation
import WebhookCore
import WebhookStorage

/// `qr3-webhookd webhooks ...`: manage webhooks from the shell.
struct Webhooks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list, show, update, delete, enable, disable and recover webhooks; rotate their secrets.",
        subcommands: [
            Create.self, List.self, Show.self, Update.self, Delete.self, Enable.self, Disable.self, Recover.self,
            RotateSecret.self,
        ]
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
        @Option(name: .customLong("header"), help: headerHelp) var headers: [String] = []
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let subscription = try parseEvents(events)
            let customHeaders = try parseHeaders(headers)
            let secret = try givenSecret(secret, file: secretFile) ?? WebhookValidation.generateSecret()
            do throws(WebhookValidation.Invalid) {
                try WebhookValidation.validateWorkspace(workspace)
                try WebhookValidation.validateURL(url)
                try WebhookValidation.validateSecret(secret)
            } catch {
                throw ValidationError(error.message)
            }
            let store = try await global.openStore(creating: true)
            let webhook = try await store.createWebhook(
                NewWebhook(
                    workspaceID: workspace, url: url, events: subscription, secret: secret, headers: customHeaders),
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
            let store = try await global.openStore()
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
            let store = try await global.openStore()
            try printWebhook(try await existing(store, id), json: json)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a webhook's URL, events or secret.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The webhook id (wh_...).") var id: String
        @Option(help: "A new URL.") var url: String?
        @Option(help: ArgumentHelp("New comma-separated event types, or *.", valueName: "types")) var events: String?
        @Option(help: "A new signing secret, in force at once (rotate-secret keeps the old one valid a while).")
        var secret: String?
        @Option(help: secretFileHelp) var secretFile: String?
        @Option(name: .customLong("header"), help: headerHelp) var headers: [String] = []
        @Flag(help: "Remove all the webhook's own request headers.") var clearHeaders = false
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let secret = try givenSecret(secret, file: secretFile)
            guard url != nil || events != nil || secret != nil || !headers.isEmpty || clearHeaders else {
                throw ValidationError(
                    "nothing to change: give --url, --events, --secret, --secret-file, --header or --clear-headers")
            }
            guard headers.isEmpty || !clearHeaders else {
                throw ValidationError("give --header or --clear-headers, not both")
            }
            let customHeaders = clearHeaders ? CustomHeaders() : headers.isEmpty ? nil : try parseHeaders(headers)
            do throws(WebhookValidation.Invalid) {
                if let url { try WebhookValidation.validateURL(url) }
                if let secret { try WebhookValidation.validateSecret(secret) }
            } catch {
                throw ValidationError(error.message)
            }
            let changes = WebhookChanges(
                url: url, events: try events.map(parseEvents), secret: secret, headers: customHeaders)
            let store = try await global.openStore()
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
            let store = try await global.openStore()
            guard try await store.deleteWebhook(id: id, workspaceID: nil, now: .now()) else {
                throw CommandFailure("no webhook \(id)")
            }
            print("deleted \(id)")
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Enable a webhook again: its circuit closed, its held deliveries sent, oldest first."
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The webhook id (wh_...).") var id: String

        func run() async throws {
            try await setActive(global, id, true)
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disable a webhook: its deliveries, new ones too, are held until it is enabled."
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The webhook id (wh_...).") var id: String

        func run() async throws {
            try await setActive(global, id, false)
        }
    }
}

extension Webhooks {
    struct Recover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Queue one fresh delivery of every event of a webhook in a window that failed for good or was never made.",
            discussion: """
                Times are ISO 8601 (2026-03-15T10:00:00Z, with or without milliseconds) or a duration ago \
                (30m, 6h, 2d). Running it again queues nothing twice. For a disabled webhook the deliveries \
                are held and sent when it is enabled.
                """
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The webhook id (wh_...).") var id: String
        @Option(help: "Events created at or after this time.") var since: String
        @Option(help: "Events created before this time (default: now).") var until: String?
        @Flag(help: "Count what would be queued, queue nothing.") var dryRun = false
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let now = Timestamp.now()
            let from = try parseTime(since, option: "--since", now: now)
            let to = try until.map { try parseTime($0, option: "--until", now: now) } ?? now
            guard from < to else { throw ValidationError("--since must be before --until") }
            let store = try await global.openStore()
            guard
                let report = try await store.recover(
                    RecoveryRequest(webhookID: id, workspaceID: nil, since: from, until: to, dryRun: dryRun, now: now))
            else { throw CommandFailure("no webhook \(id)") }
            if json {
                print(report.representation(dryRun: dryRun).json)
                return
            }
            let verb = dryRun ? "would queue" : "queued"
            var line =
                "\(id): \(verb) \(report.total) deliveries (\(report.failed) failed for good, \(report.neverMade) never made)"
            if report.held { line += "; the webhook is disabled: they are held until it is enabled" }
            print(line)
        }
    }
}

extension Webhooks {
    struct RotateSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-secret",
            abstract: "Give a webhook a new secret, the old one still signing deliveries beside it for a while.",
            discussion: """
                The new secret is printed this once. During the overlap webhook-signature carries a signature \
                for each secret, and X-QR3-Signature keeps the old secret's; after it, both carry only the new \
                secret's. --overlap is seconds or a duration (90s, 30m, 6h, 1d; 0 ends the old secret at once).
                """
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The webhook id (wh_...).") var id: String
        @Option(help: ArgumentHelp(secretFileHelp.abstract + " Default: a new random secret.", valueName: "path"))
        var secretFile: String?
        @Option(help: ArgumentHelp("How long the old secret stays valid.", valueName: "duration")) var overlap = "1d"
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let overlapSeconds = try parseDuration(overlap, option: "--overlap")
            guard (0...SecretRotation.maximumOverlapSeconds).contains(overlapSeconds) else {
                throw ValidationError("--overlap must be from 0 to 30 days")
            }
            let secret = try givenSecret(nil, file: secretFile) ?? WebhookValidation.generateSecret()
            do throws(WebhookValidation.Invalid) {
                try WebhookValidation.validateSecret(secret)
            } catch {
                throw ValidationError(error.message)
            }
            let store = try await global.openStore()
            let now = Timestamp.now()
            guard
                let webhook = try await store.rotateSecret(
                    id: id, workspaceID: nil, to: secret, overlapSeconds: overlapSeconds, now: now)
            else { throw CommandFailure("no webhook \(id)") }
            try printWebhook(webhook, json: json, revealingSecret: true)
        }
    }
}

/// Seconds from `90`, `90s`, `30m`, `6h` or `1d`.
private func parseDuration(_ text: String, option: String) throws -> Int {
    if let seconds = Int(text) { return seconds }
    let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
    guard let unit = text.last.flatMap({ units[$0] }), let count = Int(text.dropLast()), count >= 0 else {
        throw ValidationError("\(option) \"\(text)\" is not a duration like 90, 30m, 6h or 1d")
    }
    return count * unit
}

private let headerHelp = ArgumentHelp(
    "A request header sent with every delivery, like \"Authorization: Bearer ...\" (repeat for more, at most 10).",
    valueName: "name: value"
)

/// Headers given as `Name: value`, checked.
private func parseHeaders(_ lines: [String]) throws -> CustomHeaders {
    var pairs: [(name: String, value: String)] = []
    for line in lines {
        guard let colon = line.firstIndex(of: ":") else {
            throw ValidationError("--header \"\(line.prefix(64))...\" must look like \"Name: value\"")
        }
        pairs.append(
            (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
    }
    do throws(WebhookValidation.Invalid) {
        return try CustomHeaders.validated(pairs)
    } catch {
        throw ValidationError(error.message)
    }
}

/// An ISO 8601 time, or a duration before `now` such as `30m`.
private func parseTime(_ text: String, option: String, now: Timestamp) throws -> Timestamp {
    if let time = Timestamp(iso8601: text) {
        return time
    }
    if let ago = DurationText.seconds(text) {
        return now.adding(seconds: -ago)
    }
    throw ValidationError(
        "\(option) \"\(text)\" is neither an ISO 8601 time like 2026-03-15T10:00:00Z nor a duration like 30m or 2d")
}

private func setActive(_ global: GlobalOptions, _ id: String, _ active: Bool) async throws {
    let store = try await global.openStore()
    _ = try await existing(store, id)
    guard
        let webhook = try await store.updateWebhook(
            id: id, workspaceID: nil, changes: WebhookChanges(isActive: active), now: .now()
        )
    else { throw CommandFailure("no webhook \(id)") }
    print("\(webhook.id) is \(webhook.isActive ? "active" : "disabled")")
}

private func existing(_ store: any WebhookStore, _ id: String) async throws -> Webhook {
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
        lines.append("held:        \(webhook.heldDeliveries) deliveries, sent when it is enabled")
    } else if webhook.circuit.isOpen, let since = webhook.circuit.failingSince {
        var failing = "failing:     since \(since.iso8601); its deliveries wait for one probe at a time"
        if let next = webhook.circuit.pausedUntil { failing += ", the next at \(next.iso8601)" }
        lines.append(failing)
    }
    lines.append(
        revealingSecret ? "secret:      \(webhook.secret)  (shown only now)" : "secret:      \(webhook.secretHint)")
    let now = Timestamp.now()
    if webhook.rotation.inOverlap(at: now), let previous = webhook.previousSecret,
        let expires = webhook.previousSecretExpiresAt
    {
        lines.append("previous:    \(Webhook.hint(for: previous)) still signs until \(expires.iso8601)")
    }
    if !webhook.headers.isEmpty {
        lines.append("headers:     \(webhook.headers.names.joined(separator: ", ")) (values hidden)")
    }
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
