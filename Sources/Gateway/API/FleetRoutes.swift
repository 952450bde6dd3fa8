#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Bus
import FleetProtocol
import NIOCore
import HTTPTypes
import Hummingbird

/// Read-only fleet endpoints, answered from this gateway's Clone replica so reads scale
/// with the number of gateways and never touch the registry.
struct FleetRoutes {
    let replica: CloneReplica
    let events: EventSender
    let registry: RegistryClient

    func register(on api: RouterGroup<GatewayRequestContext>) {
        api.get("agents") { request, context in try self.list(request, caller: context.caller()) }
        api.get("agents/{id}") { _, context in try JSONBody.response(self.agent(context.parameters.require("id"), for: context.caller())) }
        api.get("alerts") { _, context in
            let caller = try context.caller()
            return try JSONBody.response(["alerts": self.replica.alerts().filter { caller.sees(tenant: $0.tenant) }])
        }
        api.delete("agents/{id}") { _, context in try await self.delete(context.parameters.require("id"), context: context) }
        api.get("agents/{id}/metrics") { request, context in
            try await self.history(request, id: context.parameters.require("id"), caller: context.caller())
        }
        api.post("agents/{id}/approve") { _, context in try await self.approve(context.parameters.require("id"), context: context) }
        api.post("agents/{id}/revoke") { _, context in try await self.revoke(context.parameters.require("id"), context: context) }
    }

    /// The agent if the caller's tenant holds it; 404 otherwise (another tenant's agents do
    /// not exist for the key, not even as a 403).
    func agent(_ id: String, for caller: Principal) throws -> AgentRecord {
        guard let record = replica.agent(id: id), caller.sees(record) else { throw APIError.notFound("no agent with id '\(id)'") }
        return record
    }

    /// `GET /api/v1/agents?state=online&label=role=db&limit=100&offset=0`
    func list(_ request: Request, caller: Principal) throws -> Response {
        let query = request.uri.queryParameters
        // Filtered on state alone; only the page returned gets its snapshots decoded.
        var agents = replica.agentStates().filter { caller.sees($0) }
        if let state = query["state"].map(String.init) {
            guard let wanted = AgentState(rawValue: state) else {
                throw APIError.badRequest("state must be one of \(AgentState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            agents = agents.filter { $0.state == wanted }
        }
        for label in query.getAll("label") {
            // `key=value`; the value may be empty (`role=`), the key may not.
            guard let equals = label.firstIndex(of: "="), equals != label.startIndex else {
                throw APIError.badRequest("label filter must be key=value, got '\(label)'")
            }
            let key = String(label[..<equals]), value = String(label[label.index(after: equals)...])
            agents = agents.filter { $0.labels[key] == value }
        }
        let total = agents.count
        let offset = try Self.integer(query["offset"], name: "offset", default: 0, range: 0...Int.max)
        let limit = try Self.integer(query["limit"], name: "limit", default: 1000, range: 1...10_000)
        let page = replica.withMetrics(Array(agents.dropFirst(offset).prefix(limit)))
        return try JSONBody.response(AgentListResponse(agents: page, total: total))
    }


    /// `DELETE /api/v1/agents/{id}`: forget an agent that is not connected (202; 409 while
    /// it is online, since it would reappear at its next heartbeat, and while it restarts on
    /// a `restart` request, since it reconnects within moments). Answered once this gateway's
    /// replica has dropped the agent, so the caller's next read does not still show it.
    func delete(_ id: String, context: GatewayRequestContext) async throws -> Response {
        let record = try adminAction("agent.delete", on: id, context: context)
        guard record.state != .online, !(record.state == .pending && record.gatewayId != nil) else {
            throw APIError(status: .conflict, code: "agent_online", message: "agent '\(id)' is connected; stop it first or it comes straight back")
        }
        if isRestarting(record) {
            throw APIError(status: .conflict, code: "agent_restarting", message: "agent '\(id)' is restarting on request and reconnects in a moment; stop it first or it comes straight back")
        }
        try await events.send(.agentDelete(.init(agentId: id)))
        let deadline = ContinuousClock.now + Self.deleteVisibleWithin
        while replica.agent(id: id) != nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        return try JSONBody.response(["deleting": id], status: .accepted)
    }

    /// `POST /api/v1/agents/{id}/approve` (admin): lets an agent waiting in approval mode in.
    func approve(_ id: String, context: GatewayRequestContext) async throws -> Response {
        let caller = try context.caller()
        _ = try adminAction("agent.approve", on: id, context: context)
        guard let credential = replica.credential(agentId: id) else {
            throw APIError(status: .conflict, code: "not_enrolled", message: "agent '\(id)' has no credential (authentication is off?)")
        }
        guard !credential.isRevoked else { throw APIError(status: .conflict, code: "revoked", message: "agent '\(id)' was revoked") }
        if !credential.approved {
            try await events.send(.agentApprove(.init(agentId: id, by: caller.name)))
            try await waitFor(id) { $0.approved }
        }
        return try JSONBody.response(["approved": id])
    }

    /// `POST /api/v1/agents/{id}/revoke` (admin): closes the agent's session now and refuses
    /// its credential from then on. Answered once this gateway has seen the revocation (and
    /// so has closed any session the agent has here).
    func revoke(_ id: String, context: GatewayRequestContext) async throws -> Response {
        let caller = try context.caller()
        _ = try adminAction("agent.revoke", on: id, context: context)
        guard replica.credential(agentId: id) != nil else {
            throw APIError(status: .conflict, code: "not_enrolled", message: "agent '\(id)' has no credential to revoke (authentication is off?)")
        }
        try await events.send(.agentRevoke(.init(agentId: id, by: caller.name)))
        try await waitFor(id) { $0.isRevoked }
        return try JSONBody.response(["revoked": id])
    }

    /// The agent an admin-only action is about, with the audit note made first (so a refusal is
    /// logged as what was tried): 403 below admin, 404 outside the caller's tenant.
    private func adminAction(_ action: String, on id: String, context: GatewayRequestContext) throws -> AgentRecord {
        let caller = try context.caller()
        context.note(action: action, agentId: id)
        try caller.require(.admin, for: action)
        let record = try agent(id, for: caller)
        context.note(action: action, tenant: record.tenantName)
        return record
    }

    /// Waits (up to `deleteVisibleWithin`) for this gateway's replica to show the change.
    private func waitFor(_ agentId: String, _ done: (AgentCredential) -> Bool) async throws {
        let deadline = ContinuousClock.now + Self.deleteVisibleWithin
        while !(replica.credential(agentId: agentId).map(done) ?? false) {
            guard ContinuousClock.now < deadline else {
                throw APIError(status: .serviceUnavailable, code: "unavailable", message: "the registry did not confirm within \(Self.deleteVisibleWithin)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Longest a DELETE waits for the registry's deletion to reach this gateway's replica.
    static let deleteVisibleWithin: Duration = .seconds(2)
    /// How long after its disconnect an agent that was asked to restart still counts as restarting.
    static let restartGrace: TimeInterval = 60

    /// Disconnected, not for long, with a `restart` request in flight (dispatched: its reply
    /// may still be on the way) or answered during its last session: the agent re-executes
    /// itself and reconnects.
    func isRestarting(_ record: AgentRecord) -> Bool {
        guard record.state == .disconnected, let connectedAt = record.connectedAt,
            Date().timeIntervalSince(record.disconnectedAt ?? .distantPast) < Self.restartGrace
        else { return false }
        return replica.requests(agentId: record.id).contains { request in
            guard request.kind == .restart else { return false }
            return request.state == .dispatched || (request.state == .completed && (request.completedAt ?? .distantPast) >= connectedAt)
        }
    }

    /// `GET /api/v1/agents/{id}/metrics?since=ISO8601&limit=N`: history from the registry's store.
    func history(_ request: Request, id: String, caller: Principal) async throws -> Response {
        _ = try agent(id, for: caller)
        let query = request.uri.queryParameters
        var since: Date?
        if let text = query["since"] {
            since = RFC3339.parse(text)
            guard since != nil else { throw APIError.badRequest("since must be an RFC 3339 time, e.g. 2026-11-28T16:00:00Z") }
        }
        let limit = try Self.integer(query["limit"], name: "limit", default: 1000, range: 1...10_000)
        switch await registry.query(RegistryQuery.Metrics.kind, RegistryQuery.Metrics(agentId: id, since: since, limit: limit)) {
        case .success(let body):
            return Response(
                status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: Array(#"{"agentId":""#.utf8) + Array(id.utf8) + Array(#"","metrics":"#.utf8) + body + [UInt8(ascii: "}")]))
            )
        case .failure(let error):
            throw APIError(status: error.code == "timeout" || error.code == "unavailable" ? .serviceUnavailable : .internalServerError, code: error.code, message: error.message)
        }
    }

    static func integer(_ text: Substring?, name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text else { return value }
        // More digits than an Int holds is still a well-formed count: saturate (an offset past
        // the end is an empty page) and let the range decide, rather than refuse valid input.
        let digitsOnly = !text.isEmpty && text.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
        guard let number = Int(text) ?? (digitsOnly ? Int.max : nil), range.contains(number) else {
            throw APIError.badRequest("\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }
}
