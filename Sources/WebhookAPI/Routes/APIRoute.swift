import HTTPTypes

/// One operation of the API: its method, its path as the OpenAPI document writes it, and its
/// `operationId` there. The router, the 405 answers and the OpenAPI test all read this table.
public struct APIRoute: Sendable, Hashable {
    public let method: HTTPRequest.Method
    /// The path with `{name}` parameters, as in the OpenAPI document.
    public let path: String
    public let operationID: String

    /// Every route the server answers.
    public static let all: [APIRoute] = [
        APIRoute(method: .get, path: "/healthz", operationID: "getHealth"),
        APIRoute(method: .get, path: "/v1/openapi.json", operationID: "getOpenAPIDocument"),
        APIRoute(method: .get, path: "/v1/event-types", operationID: "listEventTypes"),
        APIRoute(method: .post, path: "/v1/events", operationID: "createEvent"),
        APIRoute(method: .post, path: "/v1/webhooks", operationID: "createWebhook"),
        APIRoute(method: .get, path: "/v1/webhooks", operationID: "listWebhooks"),
        APIRoute(method: .get, path: "/v1/webhooks/{id}", operationID: "getWebhook"),
        APIRoute(method: .patch, path: "/v1/webhooks/{id}", operationID: "updateWebhook"),
        APIRoute(method: .delete, path: "/v1/webhooks/{id}", operationID: "deleteWebhook"),
        APIRoute(method: .post, path: "/v1/webhooks/{id}/ping", operationID: "pingWebhook"),
        APIRoute(method: .post, path: "/v1/webhooks/{id}/recover", operationID: "recoverWebhook"),
        APIRoute(method: .post, path: "/v1/webhooks/{id}/rotate-secret", operationID: "rotateWebhookSecret"),
        APIRoute(method: .get, path: "/v1/webhooks/{id}/deliveries", operationID: "listDeliveries"),
        APIRoute(method: .get, path: "/v1/webhooks/{id}/deliveries/{delivery_id}", operationID: "getDelivery"),
        APIRoute(
            method: .post,
            path: "/v1/webhooks/{id}/deliveries/{delivery_id}/retry",
            operationID: "retryDelivery"
        ),
    ]

    /// The path in Hummingbird's form, `:name` for each parameter.
    var routerPath: String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment.hasPrefix("{") && segment.hasSuffix("}") ? ":" + segment.dropFirst().dropLast() : segment
        }.joined(separator: "/")
    }

    /// Whether a request path fits this route's template (any method).
    public func matches(path requestPath: String) -> Bool {
        var request = requestPath.split(separator: "/", omittingEmptySubsequences: false)
        if request.count > 1, request.last == "" { request.removeLast() }
        let template = path.split(separator: "/", omittingEmptySubsequences: false)
        guard request.count == template.count else { return false }
        return zip(request, template).allSatisfy { given, expected in
            expected.hasPrefix("{") ? !given.isEmpty : given == expected
        }
    }
}
