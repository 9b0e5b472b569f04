import HTTPTypes
import Hummingbird
import WebhookCore
import WebhookStorage

extension APIHandlers {
    /// `GET /v1/webhooks/{id}/deliveries`: the attempt log, newest first, filtered and paginated.
    func listDeliveries(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let workspace = try context.workspace()
        let query = try QueryParameters(
            request, allowed: ["limit", "starting_after", "status", "event_type", "event_id"])
        let limit = try query.limit(default: 20, maximum: 100)
        var succeeded: Bool?
        switch query["status"] {
        case nil: break
        case "success": succeeded = true
        case "failed": succeeded = false
        case let other?:
            throw APIError.invalidParameter("status", "status must be success or failed, not \"\(other.prefix(32))\"")
        }
        let eventType = query["event_type"]
        if let eventType, EventType(rawValue: eventType) == nil {
            throw APIError.invalidParameter(
                "event_type",
                "event_type \"\(eventType.prefix(64))\" is not an event type; see GET /v1/event-types"
            )
        }
        let id = webhookID(context)
        guard try await store.webhook(id: id, workspaceID: workspace) != nil else { throw APIError.webhookNotFound(id) }
        var deliveryQuery = DeliveryQuery(
            webhookID: id,
            workspaceID: workspace,
            limit: limit,
            startingAfter: query["starting_after"],
            succeeded: succeeded,
            eventType: eventType
        )
        deliveryQuery.eventID = query["event_id"]
        let page: Page<DeliveryAttempt>
        do {
            page = try await store.deliveries(deliveryQuery)
        } catch let error as StoreQueryError {
            throw APIError.invalidParameter("starting_after", error.description)
        }
        return JSONResponse.list(page.items.map { DeliveryRepresentation($0).json }, hasMore: page.hasMore)
    }

    /// `POST /v1/webhooks/{id}/deliveries/{delivery_id}/retry`: sends that attempt's event again now.
    func retryDelivery(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let workspace = try context.workspace()
        _ = try QueryParameters(request, allowed: [])
        let id = webhookID(context)
        let deliveryID = context.parameters.get("delivery_id") ?? ""
        guard let webhook = try await store.webhook(id: id, workspaceID: workspace) else {
            throw APIError.webhookNotFound(id)
        }
        guard let attempt = try await store.delivery(id: deliveryID, webhookID: id, workspaceID: workspace) else {
            throw APIError.deliveryNotFound(deliveryID, webhookID: id)
        }
        guard webhook.isActive else { throw APIError.webhookDisabled(webhook) }
        guard try await store.retryJob(webhookID: id, eventID: attempt.eventID, workspaceID: workspace, now: .now())
        else {
            throw APIError(
                .conflict,
                code: "not_retryable",
                message: "the event \(attempt.eventID) can no longer be sent to this webhook"
            )
        }
        hooks.jobsDue()
        var object = JSONObjectWriter()
        object.add("status", "queued")
        object.add("webhook_id", id)
        object.add("event_id", attempt.eventID)
        object.add("event_type", attempt.eventType)
        object.add("retried_delivery_id", attempt.id)
        return JSONResponse.make(.accepted, object.json)
    }
}

extension APIHandlers {
    /// `GET /v1/webhooks/{id}/deliveries/{delivery_id}`: one attempt, with the request headers it
    /// was sent with (signatures and the webhook's own header values redacted).
    func getDelivery(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let workspace = try context.workspace()
        _ = try QueryParameters(request, allowed: [])
        let id = webhookID(context)
        let deliveryID = context.parameters.get("delivery_id") ?? ""
        guard try await store.webhook(id: id, workspaceID: workspace) != nil else { throw APIError.webhookNotFound(id) }
        guard let attempt = try await store.delivery(id: deliveryID, webhookID: id, workspaceID: workspace) else {
            throw APIError.deliveryNotFound(deliveryID, webhookID: id)
        }
        return JSONResponse.make(.ok, DeliveryRepresentation(attempt).json(detailed: true))
    }
}
