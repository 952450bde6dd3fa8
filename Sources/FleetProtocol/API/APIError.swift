/// The error body every REST endpoint returns: `{"error":{"code":"not_found","message":"..."}}`.
public struct APIErrorBody: Codable, Sendable, Equatable {
    public struct Detail: Codable, Sendable, Equatable {
        public var code: String
        public var message: String
    }

    public var error: Detail

    public init(code: String, message: String) {
        self.error = Detail(code: code, message: message)
    }
}

/// `GET /api/v1/agents`.
public struct AgentListResponse: Codable, Sendable, Equatable {
    public var agents: [AgentRecord]
    /// Agents matching the query before paging.
    public var total: Int

    public init(agents: [AgentRecord], total: Int) {
        self.agents = agents
        self.total = total
    }
}
