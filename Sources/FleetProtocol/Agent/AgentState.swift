/// Liveness of an agent as the registry sees it.
///
/// `online` -> `disconnected` when its socket closes; `online` -> `offline` when no heartbeat
/// arrived for `heartbeat.timeout`; back to `online` on the next hello or heartbeat.
/// Two states come from its credential, not its connection: `pending` (enrolled in approval
/// mode, waiting for `master agents approve`; sends metrics, gets no requests) and `revoked`
/// (cut off by `master agents revoke`; refused from then on).
public enum AgentState: String, Codable, Sendable, CaseIterable {
    case online
    case disconnected
    case offline
    case pending
    case revoked

    /// Whether the state is about the connection (and may change with it).
    public var followsConnection: Bool { self != .pending && self != .revoked }
}
