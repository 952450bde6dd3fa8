import FleetProtocol
import HTTPTypes
import Hummingbird
import NIOCore

/// An error answered as `{"error":{"code","message"}}` with the right status, on every
/// route. Thrown by handlers; Hummingbird turns it into the response.
struct APIError: HTTPResponseError {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    /// Extra response headers (`Allow` on a 405).
    var headers: HTTPFields = [:]

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try JSONBody.response(APIErrorBody(code: code, message: message), status: status)
        response.headers.append(contentsOf: headers)
        return response
    }

    static func notFound(_ message: String) -> APIError { APIError(status: .notFound, code: "not_found", message: message) }
    static func badRequest(_ message: String) -> APIError { APIError(status: .badRequest, code: "bad_request", message: message) }
}

/// JSON responses in the fleet's dialect (`FleetJSON`: ISO 8601 dates with milliseconds).
enum JSONBody {
    static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let bytes = try FleetJSON.encode(value)
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}
