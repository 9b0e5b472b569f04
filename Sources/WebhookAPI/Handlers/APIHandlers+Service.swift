import HTTPTypes
import Hummingbird
import NIOCore
import WebhookCore

extension APIHandlers {
    /// `GET /healthz`: 200 when the database answers, 503 otherwise: while the delivery loop finds
    /// it failing (a full disk still answers reads), or when it does not answer a read.
    func health() async -> Response {
        if let fault = storeHealth.fault {
            // The delivery loop logs the fault; a probe every few seconds must not add a line each.
            var error = APIError(
                .serviceUnavailable,
                code: "unavailable",
                message: "the database fails (\(fault.fault)) for \(fault.duration().tenthsOfSecondsText) s; "
                    + "delivery is paused and retried with back-off, \(fault.resultsWaiting) results wait in memory; "
                    + fault.fault.kind.remedy
            )
            error.headers[.retryAfter] = "5"
            return error.response
        }
        do {
            try await store.checkHealth()
            var object = JSONObjectWriter()
            object.add("status", "ok")
            object.add("database", "ok")
            return JSONResponse.make(.ok, object.json)
        } catch {
            if let failed = healthLog.shouldLog(now: .now) {
                logger.warning("Health check failed", metadata: ["error": "\(error)", "checks_failed": "\(failed)"])
            }
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
