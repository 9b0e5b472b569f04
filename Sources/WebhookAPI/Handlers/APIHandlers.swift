import HTTPTypes
import Hummingbird
import Logging
import WebhookCore
import WebhookStorage

/// The code behind each route: reads the request, asks the store, writes the documented JSON.
struct APIHandlers: Sendable {
    let store: any WebhookStore
    let configuration: APIConfiguration
    let hooks: APIHooks
    /// The database's health as the delivery loop last found it.
    let storeHealth: StoreHealth
    /// Lets a failed health check be logged once a minute, not on every probe.
    let healthLog = FaultLogThrottle()
    let logger: Logger

    /// Runs the operation named by `route`.
    func respond(to route: APIRoute, _ request: Request, _ context: APIRequestContext) async throws -> Response {
        switch route.operationID {
        case "getHealth": return await health()
        case "getOpenAPIDocument": return openAPIDocument()
        case "listEventTypes": return try eventTypes(request)
        case "createEvent": return try await createEvent(request, context)
        case "createWebhook": return try await createWebhook(request, context)
        case "listWebhooks": return try await listWebhooks(request, context)
        case "getWebhook": return try await getWebhook(request, context)
        case "updateWebhook": return try await updateWebhook(request, context)
        case "deleteWebhook": return try await deleteWebhook(request, context)
        case "pingWebhook": return try await pingWebhook(request, context)
        case "rotateWebhookSecret": return try await rotateSecret(request, context)
        case "listDeliveries": return try await listDeliveries(request, context)
        case "getDelivery": return try await getDelivery(request, context)
        case "retryDelivery": return try await retryDelivery(request, context)
        case "recoverWebhook": return try await recoverWebhook(request, context)
        default: throw APIError(.notFound, code: "not_found", message: "there is no operation \(route.operationID)")
        }
    }

    /// The `{id}` path parameter.
    func webhookID(_ context: APIRequestContext) -> String {
        context.parameters.get("id") ?? ""
    }
}

/// The query parameters of a request, checked against the names a route accepts.
struct QueryParameters {
    private var values: [String: String] = [:]

    /// Refuses a parameter the route does not know, or one given twice.
    init(_ request: Request, allowed: [String]) throws(APIError) {
        for (key, value) in request.uri.queryParameters {
            let name = String(key)
            guard allowed.contains(name) else {
                let known =
                    allowed.isEmpty ? "this call takes none" : "the parameters are " + allowed.joined(separator: ", ")
                throw APIError.invalidParameter(
                    String(name.prefix(64)),
                    "unknown query parameter \"\(name.prefix(64))\"; \(known)"
                )
            }
            guard values[name] == nil else { throw APIError.invalidParameter(name, "\(name) is given twice") }
            values[name] = String(value)
        }
    }

    subscript(name: String) -> String? { values[name] }

    /// `limit`: a whole number from 1 to `maximum`, `fallback` when absent.
    func limit(default fallback: Int, maximum: Int) throws(APIError) -> Int {
        guard let text = values["limit"] else { return fallback }
        guard let limit = Int(text), (1...maximum).contains(limit) else {
            throw APIError.invalidParameter(
                "limit",
                "limit must be a whole number from 1 to \(maximum), not \"\(text.prefix(32))\""
            )
        }
        return limit
    }
}
