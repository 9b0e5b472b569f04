import HTTPTypes
import Hummingbird
import WebhookCore
import WebhookStorage

extension APIHandlers {
    /// The fields of a webhook a request may set.
    static let createFields = ["url", "events", "secret", "headers"]
    static let updateFields = ["url", "events", "secret", "is_active", "headers"]

    /// `POST /v1/webhooks`: 201 with the new webhook, its secret shown this once.
    func createWebhook(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let workspace = try context.workspace()
        _ = try QueryParameters(request, allowed: [])
        let body = try await RequestObject.read(request, limit: configuration.maximumBodyBytes)
        try body.allowOnly(Self.createFields)
        try body.require("url", "the http(s) URL events are POSTed to")
        try body.require("events", #"the event types to receive, like ["qr.scanned"], or ["*"] for all"#)
        let url = try validURL(body.string("url") ?? "")
        let events = try subscription(body.strings("events") ?? [])
        let secret = try body.string("secret") ?? WebhookValidation.generateSecret()
        try validSecret(secret)
        let customHeaders = try validHeaders(body.stringPairs("headers") ?? [])
        let webhook: Webhook
        do {
            webhook = try await store.createWebhook(
                NewWebhook(workspaceID: workspace, url: url, events: events, secret: secret, headers: customHeaders),
                now: .now(),
                limit: configuration.maximumWebhooksPerWorkspace
            )
        } catch let limit as WebhookLimitReached {
            throw APIError(.unprocessableContent, code: "limit_reached", message: limit.description)
        }
        var headers = HTTPFields()
        headers[.location] = "/v1/webhooks/\(webhook.id)"
        return JSONResponse.make(.created, representation(webhook, revealingSecret: true).json, headers: headers)
    }

    /// The webhook object, with the in-flight limit the delivery in this process has for it now.
    private func representation(_ webhook: Webhook, revealingSecret: Bool = false) -> WebhookRepresentation {
        var representation = WebhookRepresentation(webhook, revealingSecret: revealingSecret)
        representation.concurrency_limit = configuration.concurrencyLimit?(webhook.id)
        return representation
    }

    /// `GET /v1/webhooks`: a page of the workspace's webhooks in id order.
    func listWebhooks(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let workspace = try context.workspace()
        let query = try QueryParameters(request, allowed: ["limit", "starting_after"])
        let limit = try query.limit(default: 20, maximum: 100)
        let page = try await store.listWebhooks(
            workspaceID: workspace, limit: limit, startingAfter: query["starting_after"])
        return JSONResponse.list(page.items.map { representation($0).json }, hasMore: page.hasMore)
    }

    /// `GET /v1/webhooks/{id}`: the webhook, its secret only as the hint.
    func getWebhook(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let workspace = try context.workspace()
        _ = try QueryParameters(request, allowed: [])
        let id = webhookID(context)
        guard let webhook = try await store.webhook(id: id, workspaceID: workspace) else {
            throw APIError.webhookNotFound(id)
        }
        return JSONResponse.make(.ok, representation(webhook).json)
    }

    /// `PATCH /v1/webhooks/{id}`: changes url, events, secret, headers or is_active (true
    /// re-activates and resets the failure count). A secret set here is in force at once; the
    /// rotate-secret call changes it with an overlap.
    func updateWebhook(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let workspace = try context.workspace()
        _ = try QueryParameters(request, allowed: [])
        let id = webhookID(context)
        let body = try await RequestObject.read(request, limit: configuration.maximumBodyBytes)
        try body.allowOnly(Self.updateFields)
        guard !body.members.isEmpty else {
            throw APIError(
                .unprocessableContent,
                code: "missing_field",
                message: "nothing to change: give at least one of \(Self.updateFields.joined(separator: ", "))"
            )
        }
        var changes = WebhookChanges()
        if let url = try body.string("url") { changes.url = try validURL(url) }
        if let events = try body.strings("events") { changes.events = try subscription(events) }
        if let secret = try body.string("secret") {
            try validSecret(secret)
            changes.secret = secret
        }
        changes.isActive = try body.bool("is_active")
        if let headers = try body.stringPairs("headers") { changes.headers = try validHeaders(headers) }
        guard let webhook = try await store.updateWebhook(id: id, workspaceID: workspace, changes: changes, now: .now())
        else { throw APIError.webhookNotFound(id) }
        return JSONResponse.make(.ok, representation(webhook).json)
    }

    /// `DELETE /v1/webhooks/{id}`: deletes it; its queued deliveries stop.
    func deleteWebhook(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let workspace = try context.workspace()
        _ = try QueryParameters(request, allowed: [])
        let id = webhookID(context)
        guard try await store.deleteWebhook(id: id, workspaceID: workspace, now: .now()) else {
            throw APIError.webhookNotFound(id)
        }
        var object = JSONObjectWriter()
        object.add("id", id)
        object.add("deleted", true)
        return JSONResponse.make(.ok, object.json)
    }

    // MARK: Validation

    private func validURL(_ url: String) throws(APIError) -> String {
        let parsed: WebhookURL
        do throws(WebhookValidation.Invalid) {
            parsed = try WebhookValidation.validateURL(url)
        } catch {
            throw APIError.invalidValue(error.field, error.message)
        }
        do throws(WebhookValidation.Invalid) {
            try WebhookValidation.validateDestination(parsed, policy: configuration.addressPolicy)
        } catch {
            throw APIError(.unprocessableContent, code: "url_not_allowed", message: error.message, field: "url")
        }
        return url
    }

    private func subscription(_ names: [String]) throws(APIError) -> EventSubscription {
        do throws(EventSubscription.Invalid) {
            return try EventSubscription(validating: names)
        } catch {
            throw APIError.invalidValue("events", error.message)
        }
    }

    private func validHeaders(_ pairs: [(name: String, value: String)]) throws(APIError) -> CustomHeaders {
        do throws(WebhookValidation.Invalid) {
            return try CustomHeaders.validated(pairs)
        } catch {
            throw APIError.invalidValue(error.field, error.message)
        }
    }

    func validSecret(_ secret: String) throws(APIError) {
        do throws(WebhookValidation.Invalid) {
            try WebhookValidation.validateSecret(secret)
        } catch {
            throw APIError.invalidValue(error.field, error.message)
        }
    }
}
