import Bus
import FleetProtocol
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket

/// Read-only fleet endpoints, answered from this gateway's Clone replica so reads scale
/// with the number of gateways and never touch the registry.
struct FleetRoutes {
    let replica: CloneReplica
    let tokens: GatewayTokens

    func register(on router: Router<BasicWebSocketRequestContext>) {
        let api = router.group("api/v1").add(middleware: AdminAuthMiddleware(tokens: tokens))
        api.get("agents") { request, _ in try self.list(request) }
        api.get("agents/{id}") { _, context in try self.detail(context.parameters.require("id")) }
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
            let parts = label.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw APIError.badRequest("label filter must be key=value, got '\(label)'") }
            agents = agents.filter { $0.labels[parts[0]] == parts[1] }
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

    static func integer(_ text: Substring?, name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw APIError.badRequest("\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }
}
