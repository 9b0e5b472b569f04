import HTTPTypes
import Hummingbird
import WebhookCore
import WebhookStorage

extension APIHandlers {
    /// `POST /v1/events`: adds an event to the outbox as a producer's INSERT would, after the same
    /// checks the daemon makes when it takes the row in.
    func createEvent(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let workspace = try context.workspace()
        _ = try QueryParameters(request, allowed: [])
        let body = try await RequestObject.read(request, limit: configuration.maximumEventBytes + 16 * 1024)
        try body.allowOnly(["type", "data", "event_id"])
        try body.require("type", "an event type, see GET /v1/event-types")
        try body.require("data", "a JSON object with the event's details")
        let type = try body.string("type") ?? ""
        let data = try body.objectBytes("data") ?? []
        let now = Timestamp.now()
        let eventID = try body.string("event_id") ?? Identifier.makeOrdered(Identifier.event, at: now)
        let row = OutboxRow(
            sequence: 0, eventID: eventID, workspaceID: workspace, type: type, data: data, createdAt: now)
        if case .failure(let rejection) = OutboxValidator(maximumDataBytes: configuration.maximumEventBytes).validate(
            row)
        {
            let field = ["event_id", "type", "data"].first { rejection.reason.hasPrefix($0) } ?? "type"
            throw APIError.invalidValue(field, rejection.reason)
        }
        let queued = try await store.enqueueIfNew(row) != nil
        if queued { hooks.outboxChanged() }
        return JSONResponse.make(queued ? .accepted : .ok, Self.queuedEvent(eventID, type, queued: queued))
    }

    /// `POST /v1/webhooks/{id}/ping`: a `webhook.ping` event for that webhook alone, signed and sent
    /// like any other and logged among its deliveries.
    func pingWebhook(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let workspace = try context.workspace()
        _ = try QueryParameters(request, allowed: [])
        let id = webhookID(context)
        guard let webhook = try await store.webhook(id: id, workspaceID: workspace) else {
            throw APIError.webhookNotFound(id)
        }
        guard webhook.isActive else { throw APIError.webhookDisabled(webhook) }
        let now = Timestamp.now()
        let eventID = Identifier.makeOrdered(Identifier.event, at: now)
        var data = JSONObjectWriter()
        data.add("webhook_id", id)
        data.add("message", "This is a test ping from qr3.app.")
        let row = OutboxRow(
            sequence: 0,
            eventID: eventID,
            workspaceID: workspace,
            type: EventType.webhookPing.rawValue,
            data: Array(data.json.utf8),
            targetWebhookID: id,
            createdAt: now
        )
        _ = try await store.enqueueIfNew(row)
        hooks.outboxChanged()
        var object = JSONObjectWriter()
        object.add("status", "queued")
        object.add("webhook_id", id)
        object.add("event_id", eventID)
        object.add("event_type", EventType.webhookPing.rawValue)
        object.add("deliveries_url", "/v1/webhooks/\(id)/deliveries?event_id=\(eventID)")
        return JSONResponse.make(.accepted, object.json)
    }

    /// `GET /v1/event-types`: every type a webhook can subscribe to, with what it means.
    func eventTypes(_ request: Request) throws -> Response {
        _ = try QueryParameters(request, allowed: [])
        var items: [String] = []
        var wildcard = JSONObjectWriter()
        wildcard.add("type", EventType.wildcard)
        wildcard.add("description", "All events (except webhook.ping, which only the ping endpoint sends)")
        items.append(wildcard.json)
        for type in EventType.allCases {
            var object = JSONObjectWriter()
            object.add("type", type.rawValue)
            object.add("description", type.summary)
            items.append(object.json)
        }
        return JSONResponse.list(items, hasMore: false)
    }

    private static func queuedEvent(_ eventID: String, _ type: String, queued: Bool) -> String {
        var object = JSONObjectWriter()
        object.add("status", queued ? "queued" : "duplicate")
        object.add("event_id", eventID)
        object.add("event_type", type)
        return object.json
    }
}
