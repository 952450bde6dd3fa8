/// Liveness of an agent as the registry sees it.
///
/// `online` -> `disconnected` when its socket closes; `online` -> `offline` when no heartbeat
/// arrived for `heartbeat.timeout`; back to `online` on the next hello or heartbeat.
public enum AgentState: String, Codable, Sendable, CaseIterable {
    case online
    case disconnected
    case offline
}
