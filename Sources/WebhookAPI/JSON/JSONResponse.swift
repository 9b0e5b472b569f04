import HTTPTypes
import Hummingbird
import NIOCore
import WebhookCore

/// Responses whose body is JSON text the API wrote itself (so key order is the documented one).
enum JSONResponse {
    /// A response with `json` and a trailing newline as its body.
    static func make(_ status: HTTPResponse.Status, _ json: String, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(
            status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: json + "\n")))
    }

    /// `{"data":[...],"has_more":false}`, the shape of every list.
    static func list(_ items: [String], hasMore: Bool) -> Response {
        var object = JSONObjectWriter()
        object.add("data", raw: "[" + items.joined(separator: ",") + "]")
        object.add("has_more", hasMore)
        return make(.ok, object.json)
    }
}
