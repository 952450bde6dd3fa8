import Bus
import FleetProtocol
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /api/v1/requests/{id}/content` (admin token): the file a `logs` request brought
/// back, streamed from the registry's store one chunk at a time.
///
/// A request that is not finished in this gateway's replica is waited for, `?wait=S` seconds
/// or `RequestRoutes.appearGrace` by default: a client that saw it complete through another
/// gateway (`POST ...?wait` on gateway A, then this GET balanced to gateway B) must not get
/// a 409 because B's replica is a few milliseconds behind A's (seen under CI load).
struct ContentRoutes {
    let replica: CloneReplica
    let registry: RegistryClient
    let waiters: ReplicaWaiters<RequestRecord>

    func register(on api: RouterGroup<GatewayRequestContext>) {
        api.get("requests/{id}/content") { request, context in
            try await self.content(
                context.parameters.require("id"), wait: try RequestRoutes.waitSeconds(request) ?? RequestRoutes.appearGrace,
                caller: context.caller()
            )
        }
    }

    func content(_ id: String, wait: Double, caller: Principal) async throws -> Response {
        let record = await RequestRoutes.settle(id: id, wait: wait, replica: replica, waiters: waiters)
        guard let record, caller.sees(tenant: record.tenant) else {
            throw APIError.notFound("no request with id '\(id)'")
        }
        try caller.require(KeyRole.needed(for: record.kind), for: "reading what a \(record.kind.rawValue) request brought back")
        guard record.kind == .logs else { throw APIError.notFound("request \(id) is a \(record.kind.rawValue) request; only logs requests have content") }
        guard record.state == .completed, let result = record.result,
            let summary = try? FleetJSON.decode(ContentSummary.self, from: FleetJSON.encode(result))
        else {
            throw APIError(status: .conflict, code: "not_ready", message: "request \(id) is \(record.state.rawValue); content exists once it is completed")
        }
        let registry = self.registry
        var headers: HTTPFields = [.contentType: "application/octet-stream", .contentLength: "\(summary.bytes)"]
        headers[HTTPField.Name("X-Content-SHA256")!] = summary.sha256
        if let name = summary.name { headers[.contentDisposition] = "attachment; filename=\"\(name.replacingOccurrences(of: "\"", with: ""))\"" }
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody(contentLength: Int(summary.bytes)) { writer in
                for index in 0..<summary.chunks {
                    switch await registry.query(RegistryQuery.Content.kind, RegistryQuery.Content(requestId: id, index: index), timeout: .seconds(30)) {
                    case .success(let bytes):
                        try await writer.write(ByteBuffer(bytes: bytes))
                    case .failure(let error):
                        // Headers are gone already: cutting the body short is the only signal left,
                        // and a client sees fewer bytes than Content-Length.
                        throw error
                    }
                }
                try await writer.finish(nil)
            }
        )
    }
}
