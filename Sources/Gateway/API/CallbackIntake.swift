#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Bus
import Crypto
import FleetProtocol
import HTTPTypes
import Hummingbird
import Logging
import Metrics

/// `POST /api/v1/callbacks/{requestId}`: where agents deliver results, authenticated by the
/// request's single-use reply token (not the admin token). The gateway checks the token
/// against the replicated request, checks the body is a well-formed reply, and hands it to
/// the workers; it answers 202 once the job is queued on the bus.
struct CallbackIntake {
    let replica: CloneReplica
    let jobs: JobSender
    let gatewayId: String
    let maxUploadBytes: Int
    let limits: GatewayLimits
    let logger: Logger
    /// Replies per agent: a flood from one agent is 429, not the workers' whole capacity.
    let buckets = BucketTable()

    /// Largest JSON reply accepted (status, exec output, config results).
    static let maxReplyBytes = 16 * 1_048_576

    struct Accepted: Codable { var accepted: Bool }

    func register(on router: Router<GatewayRequestContext>) {
        router.post("api/v1/callbacks/{id}") { request, context in
            try await self.accept(request, id: context.parameters.require("id"), body: SlowBodyGuard(channel: context.channel, timeout: limits.readTimeout))
        }
    }

    func accept(_ request: Request, id: String, body: SlowBodyGuard) async throws -> Response {
        // Unsynced, every request id is unknown here: 503 (the agent retries), not 404.
        try ReplicaReadyMiddleware.check(replica)
        let record = try authorize(request.headers, id: id)
        guard buckets.take(record.agentId, rate: limits.callbackRate, burst: limits.callbackBurst) else {
            throw APIError(
                status: .tooManyRequests, code: "rate_limited",
                message: "more than \(limits.callbackRate) replies/s from agent \(record.agentId); retry later",
                headers: [.retryAfter: "1"]
            )
        }
        let isJSON = request.headers[.contentType]?.lowercased().hasPrefix("application/json") ?? false
        if record.kind == .logs && !isJSON {
            return try await stream(request, record: record, body: body)
        }
        let bytes = try await body.collect(request.body, upTo: Self.maxReplyBytes)
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

    /// A file upload (`logs`): cut into chunks and pushed on as they arrive, hashing on the
    /// way. Memory stays at about one chunk plus the bus's small queues, whatever the size.
    func stream(_ request: Request, record: RequestRecord, body: SlowBodyGuard) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxUploadBytes {
            throw APIError(status: .contentTooLarge, code: "too_large", message: "upload of \(length) bytes is over the \(maxUploadBytes)-byte limit (callbacks.max_upload)")
        }
        let name = request.headers[HTTPField.Name("X-Fleet-File")!]
        var hasher = SHA256()
        var pending: [UInt8] = []
        pending.reserveCapacity(ContentChunkHeader.size)
        var index = 0
        var total: UInt64 = 0
        let upload = UUID().uuidString  // this attempt's chunks, apart from any other's
        func header(final: Bool, aborted: Bool = false) -> ContentChunkHeader {
            ContentChunkHeader(
                requestId: record.id, agentId: record.agentId, index: index, final: final, aborted: aborted, name: name, upload: upload
            )
        }
        do {
            try await body.watch { progress in
                for try await buffer in request.body {
                    progress.tick()
                    total += UInt64(buffer.readableBytes)
                    guard total <= UInt64(maxUploadBytes) else {
                        try await jobs.send(chunk: header(final: true, aborted: true), kind: ContentChunkHeader.jobKind, bytes: [])
                        throw APIError(status: .contentTooLarge, code: "too_large", message: "upload is over the \(maxUploadBytes)-byte limit (callbacks.max_upload)")
                    }
                    let view = buffer.readableBytesView
                    hasher.update(data: view)
                    var start = view.startIndex
                    while start < view.endIndex {
                        let take = min(ContentChunkHeader.size - pending.count, view.endIndex - start)
                        pending.append(contentsOf: view[start..<(start + take)])
                        start += take
                        if pending.count == ContentChunkHeader.size {
                            let chunk = header(final: false)
                            try await progress.busy { try await jobs.send(chunk: chunk, kind: ContentChunkHeader.jobKind, bytes: pending) }
                            index += 1
                            pending.removeAll(keepingCapacity: true)
                        }
                    }
                }
            }
        } catch let error as APIError {
            throw error
        } catch {
            // The agent went away mid-upload: drop the partial file; it will send again.
            try? await jobs.send(chunk: header(final: true, aborted: true), kind: ContentChunkHeader.jobKind, bytes: [])
            throw error
        }
        var last = header(final: true)
        last.totalBytes = total
        last.sha256 = Hex.encode(hasher.finalize())
        try await jobs.send(chunk: last, kind: ContentChunkHeader.jobKind, bytes: pending)
        Counter(label: "fleet_gateway_upload_bytes_total").increment(by: Int64(total))
        logger.info("upload accepted", metadata: ["request": "\(record.id)", "bytes": "\(total)", "chunks": "\(index + 1)"])
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
        guard GatewayTokens.constantTimeEqual(digest, record.replyTokenSHA256 ?? "") else {
            // Tokens name their request: a valid token for another one is 403, anything else 401.
            let named = String(token.prefix { $0 != "." })
            if named != id, let other = replica.request(id: named), GatewayTokens.constantTimeEqual(other.replyTokenSHA256 ?? "", digest) {
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
