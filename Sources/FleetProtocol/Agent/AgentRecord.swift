#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The registry's view of one agent: what the REST API returns and what the Clone-pattern
/// replication carries to every gateway.
public struct AgentRecord: Codable, Sendable, Equatable {
    public var id: String
    public var hostname: String
    public var os: OSInfo
    public var agentVersion: String
    public var labels: [String: String]
    public var state: AgentState
    /// Why the state last changed, e.g. "socket closed", "no heartbeat for 600 s".
    public var stateReason: String?
    /// The gateway holding the agent's live session, if any.
    public var gatewayId: String?
    /// The live session's id; a newer session supersedes older ones.
    public var sessionId: String?
    public var firstSeen: Date
    public var connectedAt: Date?
    public var disconnectedAt: Date?
    /// Last time anything arrived from the agent (hello or heartbeat).
    public var lastSeen: Date
    /// The most recent metrics snapshot.
    public var metrics: MetricsSnapshot?
    /// The tenant the agent belongs to (its enrollment token's); set by the registry, never
    /// by the agent. nil for records from before tenants, read as `default`.
    public var tenant: String?

    /// The tenant, with records from before tenants in `default`.
    public var tenantName: String { tenant ?? Tenant.default }

    public init(info: AgentInfo, state: AgentState, now: Date) {
        self.id = info.id
        self.hostname = info.hostname
        self.os = info.os
        self.agentVersion = info.agentVersion
        self.labels = info.labels
        self.state = state
        self.firstSeen = now
        self.lastSeen = now
    }

    /// Copies identity fields from a (re)connecting agent's hello.
    public mutating func update(from info: AgentInfo) {
        hostname = info.hostname
        os = info.os
        agentVersion = info.agentVersion
        labels = info.labels
    }
}
