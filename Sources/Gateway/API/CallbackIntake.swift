import Bus
import Crypto
import FleetProtocol
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging

/// `POST /api/v1/callbacks/{requestId}`: where agents deliver results, authenticated by the
/// request's single-use reply token (not the admin token). The gateway checks the token
/// against the replicated request, checks the body is a well-formed reply, and hands it to
/// the workers; it answers 202 once the job is queued on the bus.
struct CallbackIntake {
    let replica: CloneReplica
    let jobs: JobSender
    let gatewayId: String
    let logger: Logger

    /// Largest JSON reply accepted (status, exec output, config results).
    static let maxReplyBytes = 16 * 1_048_576

    struct Accepted: Codable { var accepted: Bool }

    func register(on router: Router<BasicWebSocketRequestContext>) {
        router.post("api/v1/callbacks/{id}") { request, context in
            try await self.accept(request, id: context.parameters.require("id"))
        }
    }

    func accept(_ request: Request, id: String) async throws -> Response {
        let record = try authorize(request.headers, id: id)
        let buffer = try await request.body.collect(upTo: Self.maxReplyBytes)
        let bytes = Array(buffer.readableBytesView)
        do {
            _ = try FleetJSON.decode(AgentReply.self, from: bytes)
        } catch let error as DecodingError {
            throw APIError.badRequest("invalid reply: \(error.fleetDescription)")
        } catch {
            throw APIError.badRequest("invalid reply: body is not JSON")
        }
        let header = CallbackJobHeader(
            requestId: record.id, agentId: record.agentId, kind: record.kind, gatewayId: gatewayId,
            contentType: request.headers[.contentType]
        )
        try await jobs.send(header, body: bytes)
        return try JSONBody.response(Accepted(accepted: true), status: .accepted)
    }

    /// 401 no or unknown token; 404 unknown request; 403 a valid token of another request;
    /// 409 the request already has its reply (tokens are single-use).
    func authorize(_ headers: HTTPFields, id: String) throws -> RequestRecord {
        guard let header = headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            throw APIError(status: .unauthorized, code: "unauthorized", message: "missing Authorization: Bearer <reply token>")
        }
        let token = String(header.dropFirst("bearer ".count))
        guard let record = replica.request(id: id) else {
            throw APIError.notFound("no request with id '\(id)'")
        }
        let digest = Hex.encode(SHA256.hash(data: Array(token.utf8)))
        guard digest == record.replyTokenSHA256 else {
            // Tokens name their request: a valid token for another one is 403, anything else 401.
            let named = String(token.prefix { $0 != "." })
            if named != id, let other = replica.request(id: named), other.replyTokenSHA256 == digest {
                throw APIError(status: .forbidden, code: "forbidden", message: "this reply token belongs to request \(named)")
            }
            throw APIError(status: .unauthorized, code: "unauthorized", message: "invalid reply token")
        }
        guard !record.state.isFinal else {
            logger.notice("reply token reused", metadata: ["request": "\(id)"])
            throw APIError(status: .conflict, code: "token_used", message: "request \(id) already has its reply; reply tokens are single-use")
        }
        return record
    }
}
