import HTTPTypes
import Hummingbird
import NIOCore
import WebhookCore

extension APIHandlers {
    /// `GET /healthz`: 200 when the database answers, 503 otherwise.
    func health() async -> Response {
        do {
            try await store.checkHealth()
            var object = JSONObjectWriter()
            object.add("status", "ok")
            object.add("database", "ok")
            return JSONResponse.make(.ok, object.json)
        } catch {
            logger.warning("Health check failed", metadata: ["error": "\(error)"])
            return APIError(.serviceUnavailable, code: "unavailable", message: "the database does not answer").response
        }
    }

    /// `GET /v1/openapi.json`: the OpenAPI 3.1 document of this API, as kept in `openapi/openapi.json`.
    func openAPIDocument() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(
            status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
    }
}
