#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Queries a gateway sends the registry over DEALER/ROUTER (the `snapshot` socket) for what
/// is not replicated: history. Wire: `[query][nonce][kind][JSON]` -> `[query][nonce][ok|error][JSON]`.
public enum RegistryQuery {
    public static let frame = "query"

    /// Metrics history of one agent: reply is `[MetricsSnapshot]`, oldest first.
    public struct Metrics: Codable, Sendable, Equatable {
        public static let kind = "metrics"
        public var agentId: String
        public var since: Date?
        public var limit: Int
        public init(agentId: String, since: Date?, limit: Int) {
            self.agentId = agentId
            self.since = since
            self.limit = limit
        }
    }
}

/// A query the registry could not answer.
public struct QueryError: Error, Codable, Sendable, Equatable {
    public var code: String
    public var message: String
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}
