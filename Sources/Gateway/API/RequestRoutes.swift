#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Bus
import FleetProtocol
import HTTPTypes
import Hummingbird

/// Callback requests on the admin API (admin token):
/// `POST /api/v1/agents/{id}/callbacks` and `GET /api/v1/requests/{id}`, both with `?wait=`.
struct RequestRoutes {
    let replica: CloneReplica
    let events: EventSender
    let waiters: ReplicaWaiters<RequestRecord>

    /// Longest `?wait=` honoured, in seconds.
    static let maxWait = 300.0
    /// Longest an unknown request id is waited for, to replicate from the gateway that made it.
    static let appearGrace = 2.0
    /// Largest request body on the admin API.
    static let maxBody = 1_048_576
    /// Longest a new request waits for the registry to confirm it (the request in this
    /// gateway's replica, stored before the registry published it) before the answer is 503.
    static let confirmTimeout = 5.0

    func register(on api: RouterGroup<GatewayRequestContext>) {
        api.post("agents/{id}/callbacks") { request, context in
            try await self.create(request, agentId: context.parameters.require("id"), context: context)
        }
        api.get("requests/{id}") { request, context in
            try await self.show(request, id: context.parameters.require("id"), caller: context.caller())
        }
    }

    /// Asks the registry for a callback; answers 202 `{requestId}`, or with `?wait=S` the
    /// finished request (200) if it finishes within S seconds. What the key needs depends on
    /// the kind (`KeyRole.needed(for:)`): status and logs are operator's, the rest admin's.
    func create(_ request: Request, agentId: String, context: GatewayRequestContext) async throws -> Response {
        let caller = try context.caller()
        context.note(action: "callback", agentId: agentId)
        let wait = try Self.waitSeconds(request)
        let buffer = try await request.body.collect(upTo: Self.maxBody)
        let bytes = Array(buffer.readableBytesView)
        let body: CallbackRequestBody
        do {
            body = try FleetJSON.decode(CallbackRequestBody.self, from: bytes)
        } catch let error as DecodingError {
            throw APIError.badRequest("invalid callback request: \(error.fleetDescription) (kind must be one of \(CallbackKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        } catch {
            throw APIError.badRequest("invalid callback request: body is not JSON")
        }
        let args = body.args ?? .object([:])
        context.note(action: "callback.\(body.kind.rawValue)", args: try FleetJSON.encode(args))
        try caller.require(KeyRole.needed(for: body.kind), for: "a \(body.kind.rawValue) request")
        guard let agent = replica.agent(id: agentId), caller.sees(agent) else { throw APIError.notFound("no agent with id '\(agentId)'") }
        context.note(action: "callback.\(body.kind.rawValue)", tenant: agent.tenantName)
        switch agent.state {
        case .pending:
            throw APIError(status: .conflict, code: "agent_pending", message: "agent '\(agentId)' is waiting for approval (master agents approve \(agentId))")
        case .revoked:
            throw APIError(status: .conflict, code: "agent_revoked", message: "agent '\(agentId)' was revoked")
        default:
            break
        }
        let requestId = UUID().uuidString.lowercased()
        context.note(action: "callback.\(body.kind.rawValue)", requestId: requestId)
        // Acknowledged means kept: 202 only once the registry holds the request. A create that
        // reaches the registry after `acceptBy` (queued on the bus while it was down) is
        // recorded failed there, never run, so a client that retries after the 503 does not
        // get it run twice.
        let acceptBy = Date().addingTimeInterval(Self.confirmTimeout)
        try await events.send(.requestCreated(.init(requestId: requestId, agentId: agentId, kind: body.kind, args: args, acceptBy: acceptBy)))
        let replica = self.replica
        guard await waiters.wait(
            for: requestId, timeout: .milliseconds(Int64(Self.confirmTimeout * 1000)), current: { replica.request(id: requestId) },
            until: { _ in true }
        ) != nil else {
            throw APIError(
                status: .serviceUnavailable, code: "not_confirmed",
                message: "the registry did not confirm request \(requestId) within \(Int(Self.confirmTimeout)) s (is it running?); it will not run if it reaches the registry later. Retry, or GET /api/v1/requests/\(requestId) first to be sure",
                headers: [.retryAfter: "5"]
            )
        }
        if let wait, wait > 0 {
            if let done = await waiters.wait(
                for: requestId, timeout: .milliseconds(Int64(wait * 1000)), current: { replica.request(id: requestId) },
                until: { $0.state.isFinal }
            ) {
                return try JSONBody.response(caller.view(done) ?? done)
            }
        }
        return try JSONBody.response(CallbackAccepted(requestId: requestId), status: .accepted)
    }

    /// The request as this gateway's replica knows it; with `?wait=S`, waits up to S
    /// seconds for it to finish. A request just created through another gateway may not have
    /// reached this replica yet: an unknown id waits up to `appearGrace` for it to appear,
    /// not the whole `?wait` (an id that never existed is 404 in seconds, not minutes), and
    /// a string that is not a request id (a UUID) is 404 at once.
    func show(_ request: Request, id: String, caller: Principal) async throws -> Response {
        let record = await Self.settle(id: id, wait: try Self.waitSeconds(request) ?? 0, replica: replica, waiters: waiters)
        guard let record, let visible = caller.view(record) else { throw APIError.notFound("no request with id '\(id)'") }
        return try JSONBody.response(visible)
    }

    /// The request `id` as this replica knows it, after waiting up to `wait` seconds for it to
    /// finish: an unknown id (a UUID) first waits up to `appearGrace` to appear, since it may
    /// have been created through another gateway a moment ago.
    static func settle(
        id: String, wait: Double, replica: CloneReplica, waiters: ReplicaWaiters<RequestRecord>
    ) async -> RequestRecord? {
        var record = replica.request(id: id)
        guard wait > 0, record?.state.isFinal != true else { return record }
        let deadline = ContinuousClock.now + .milliseconds(Int64(wait * 1000))
        if record == nil, UUID(uuidString: id) != nil {
            record = await waiters.wait(
                for: id, timeout: .milliseconds(Int64(min(wait, Self.appearGrace) * 1000)), current: { replica.request(id: id) },
                until: { _ in true }
            ) ?? replica.request(id: id)
        }
        if let pending = record, !pending.state.isFinal, deadline > ContinuousClock.now {
            record = await waiters.wait(
                for: id, timeout: deadline - ContinuousClock.now, current: { replica.request(id: id) },
                until: { $0.state.isFinal }
            ) ?? replica.request(id: id)
        }
        return record
    }

    static func waitSeconds(_ request: Request) throws -> Double? {
        guard let text = request.uri.queryParameters["wait"] else { return nil }
        guard let seconds = Double(text), seconds >= 0, seconds <= maxWait else {
            throw APIError.badRequest("wait must be a number of seconds in 0...\(Int(maxWait))")
        }
        return seconds
    }
}
