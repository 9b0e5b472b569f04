import HTTPTypes
import Hummingbird
import WebhookCore

/// An answer that is not a success, in the one error shape of the API:
/// `{"error":{"code":"invalid_value","message":"secret must be ...","field":"secret"}}`.
///
/// `code` is stable for programs; `message` tells a person what is wrong and how to fix it;
/// `field` names the request field or parameter at fault, when there is one.
public struct APIError: Error, Sendable, CustomStringConvertible {
    /// The HTTP status of the answer.
    public var status: HTTPResponse.Status
    /// The stable machine code, like `invalid_value`.
    public var code: String
    /// What is wrong and how to fix it, for a person.
    public var message: String
    /// The request field or parameter at fault, when there is one.
    public var field: String?
    /// Extra response headers (`Allow`, `WWW-Authenticate`).
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, code: String, message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    /// The JSON body.
    public var json: String {
        var error = JSONObjectWriter()
        error.add("code", code)
        error.add("message", message)
        if let field { error.add("field", field) }
        var object = JSONObjectWriter()
        object.add("error", raw: error.json)
        return object.json
    }

    /// The HTTP response carrying this error.
    public var response: Response {
        JSONResponse.make(status, json, headers: headers)
    }
}

extension APIError {
    /// 422: a field's value breaks a rule.
    static func invalidValue(_ field: String, _ message: String) -> APIError {
        APIError(.unprocessableContent, code: "invalid_value", message: message, field: field)
    }

    /// 422: a field has the wrong JSON type.
    static func invalidType(_ field: String, expected: String, got value: JSONValue) -> APIError {
        APIError(
            .unprocessableContent,
            code: "invalid_type",
            message: "\(field) must be \(expected), not \(value.kindWithArticle)",
            field: field
        )
    }

    /// 400: a query or path parameter is wrong.
    static func invalidParameter(_ name: String, _ message: String) -> APIError {
        APIError(.badRequest, code: "invalid_parameter", message: message, field: name)
    }

    /// 404 for a webhook that does not exist or belongs to another workspace (the two look alike).
    static func webhookNotFound(_ id: String) -> APIError {
        APIError(.notFound, code: "not_found", message: "no webhook \(id.prefix(64)) in this workspace", field: "id")
    }

    /// 404 for a delivery that is not an attempt of the webhook.
    static func deliveryNotFound(_ deliveryID: String, webhookID: String) -> APIError {
        APIError(
            .notFound, code: "not_found", message: "no delivery \(deliveryID.prefix(64)) of webhook \(webhookID)",
            field: "delivery_id")
    }

    /// 409 for a request that would send something to a disabled webhook: it is sent nothing
    /// until it is enabled again.
    static func webhookDisabled(_ webhook: Webhook) -> APIError {
        APIError(
            .conflict,
            code: "webhook_disabled",
            message: "webhook \(webhook.id) is disabled (\(webhook.disabledReason ?? "disabled")); enable it with "
                + "PATCH {\"is_active\":true}, which also sends its \(webhook.heldDeliveries) held deliveries"
        )
    }

    /// 429 for a key over its rate limit, with `Retry-After` in whole seconds.
    static func rateLimited(retryAfter wait: Duration, rate: Double) -> APIError {
        let seconds = max(
            1, Int((Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18).rounded(.up)))
        var error = APIError(
            .tooManyRequests,
            code: "rate_limited",
            message:
                "this API key made more than \(Int(rate)) requests a second (api-rate-limit); retry after \(seconds) s"
        )
        error.headers[.retryAfter] = String(seconds)
        return error
    }

    /// 401, with the challenge header.
    static func unauthorized(_ message: String) -> APIError {
        var error = APIError(.unauthorized, code: "unauthorized", message: message)
        error.headers[.wwwAuthenticate] = #"Bearer realm="qr3-webhookd""#
        return error
    }
}
