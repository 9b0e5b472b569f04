import ArgumentParser
import WebhookCore
import WebhookStorage

/// `qr3-webhookd api-keys ...`: the keys that open a workspace's part of the public API.
struct APIKeys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api-keys",
        abstract: "Create, list and revoke the API keys of workspaces.",
        discussion: """
            A key opens the public webhooks API (/v1) for one workspace: send it as
            `Authorization: Bearer <key>`. Only its SHA-256 is stored, so the key is printed once,
            when it is created. Keys are listed and revoked by their id (key_...) or prefix (qr3k_...).
            """,
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key for a workspace and print it (shown only this once)."
        )
        @OptionGroup var global: GlobalOptions
        @Option(help: "The workspace the key opens.") var workspace: String
        @Option(help: "A label to recognise the key by in listings.") var name: String = ""
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            do throws(WebhookValidation.Invalid) {
                try WebhookValidation.validateWorkspace(workspace)
            } catch {
                throw ValidationError(error.message)
            }
            guard name.count <= 200, !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else { throw ValidationError("--name must be at most 200 characters without control characters") }
            let store = try await global.openStore(creating: true)
            let material = APIKeyMaterial.generate()
            let key = try await store.createAPIKey(
                NewAPIKey(workspaceID: workspace, name: name, material: material),
                now: .now()
            )
            if json {
                var object = JSONObjectWriter()
                object.add("id", key.id)
                object.add("workspace_id", key.workspaceID)
                object.add("name", key.name)
                object.add("prefix", key.prefix)
                object.add("key", material.key)
                object.add("created_at", key.createdAt.iso8601)
                print(object.json)
                return
            }
            print(
                """
                id:         \(key.id)
                workspace:  \(key.workspaceID)
                prefix:     \(key.prefix)
                key:        \(material.key)

                Keep the key now: it is not stored and cannot be shown again. Use it as
                  curl -H "Authorization: Bearer \(material.key)" http://127.0.0.1:8080/v1/webhooks
                """
            )
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List keys by prefix (the keys themselves are never shown).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this workspace's keys.") var workspace: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let store = try await global.openStore()
            let keys = try await store.listAPIKeys(workspaceID: workspace)
            if json {
                print(JSONObjectWriter.array(keys.map(\.json)))
                return
            }
            print(
                Output.table(
                    ["ID", "PREFIX", "WORKSPACE", "CREATED", "REVOKED", "NAME"],
                    keys.map { key in
                        [
                            key.id, key.prefix + "…", key.workspaceID, key.createdAt.iso8601,
                            key.revokedAt?.iso8601 ?? "-", key.name,
                        ]
                    }
                )
            )
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key at once; requests with it get 401.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The key's id (key_...) or prefix (qr3k_... as listed), or the whole key.") var key: String

        func run() async throws {
            let store = try await global.openStore()
            var target = key.hasSuffix("…") ? String(key.dropLast()) : key
            if APIKeyMaterial.looksLikeKey(target) { target = APIKeyMaterial(key: target).prefix }
            guard let revoked = try await store.revokeAPIKey(idOrPrefix: target, now: .now()) else {
                throw CommandFailure("no API key with id or prefix \(key); see `qr3-webhookd api-keys list`")
            }
            print("revoked \(revoked.id) (\(revoked.prefix)…, workspace \(revoked.workspaceID))")
        }
    }
}

extension APIKey {
    /// The key as `api-keys list --json` prints it.
    fileprivate var json: String {
        var object = JSONObjectWriter()
        object.add("id", id)
        object.add("workspace_id", workspaceID)
        object.add("name", name)
        object.add("prefix", prefix)
        object.add("created_at", createdAt.iso8601)
        object.add("revoked_at", revokedAt?.iso8601)
        return object.json
    }
}
