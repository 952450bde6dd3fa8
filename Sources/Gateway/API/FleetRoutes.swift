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
import HummingbirdWebSocket

/// Read-only fleet endpoints, answered from this gateway's Clone replica so reads scale
/// with the number of gateways and never touch the registry.
struct FleetRoutes {
    let replica: CloneReplica
    let tokens: GatewayTokens
    let events: EventSender
    let registry: RegistryClient

    func register(on router: Router<BasicWebSocketRequestContext>) {
        let api = router.group("api/v1").add(middleware: AdminAuthMiddleware(tokens: tokens))
        api.get("agents") { request, _ in try self.list(request) }
        api.get("agents/{id}") { _, context in try self.detail(context.parameters.require("id")) }
        api.get("alerts") { _, _ in try JSONBody.response(["alerts": self.replica.alerts()]) }
        api.delete("agents/{id}") { _, context in try await self.delete(context.parameters.require("id")) }
        api.get("agents/{id}/metrics") { request, context in try await self.history(request, id: context.parameters.require("id")) }
    }

    /// `GET /api/v1/agents?state=online&label=role=db&limit=100&offset=0`
    func list(_ request: Request) throws -> Response {
        let query = request.uri.queryParameters
        var agents = replica.agents()
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
        let page = Array(agents.dropFirst(offset).prefix(limit))
        return try JSONBody.response(AgentListResponse(agents: page, total: total))
    }

    /// `GET /api/v1/agents/{id}`
    func detail(_ id: String) throws -> Response {
        guard let record = replica.agent(id: id) else { throw APIError.notFound("no agent with id '\(id)'") }
        return try JSONBody.response(record)
    }

    /// `DELETE /api/v1/agents/{id}`: forget an agent that is not connected (202; 409 while
    /// it is online, since it would reappear at its next heartbeat, and while it restarts on
    /// a `restart` request, since it reconnects within moments). Answered once this gateway's
    /// replica has dropped the agent, so the caller's next read does not still show it.
    func delete(_ id: String) async throws -> Response {
        guard let record = replica.agent(id: id) else { throw APIError.notFound("no agent with id '\(id)'") }
        guard record.state != .online else {
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
    func history(_ request: Request, id: String) async throws -> Response {
        guard replica.agent(id: id) != nil else { throw APIError.notFound("no agent with id '\(id)'") }
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
