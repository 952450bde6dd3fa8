import FleetProtocol
import HummingbirdWebSocket
import Synchronization

/// The agent sessions live on this gateway. Kept so the gateway can report its load,
/// re-announce every session when the registry restarts (its new run knows none of them),
/// and later route commands to the right socket.
final class SessionTable: Sendable {
    struct Session: Sendable {
        var agent: AgentInfo
        var latestMetrics: MetricsSnapshot?
        /// Writes to the agent's socket (frames, or a close).
        var outbound: WebSocketOutboundWriter
    }

    private let sessions = Mutex<[String: Session]>([:])

    func open(_ sessionId: String, agent: AgentInfo, metrics: MetricsSnapshot?, outbound: WebSocketOutboundWriter) {
        sessions.withLock { $0[sessionId] = Session(agent: agent, latestMetrics: metrics, outbound: outbound) }
    }

    func session(_ sessionId: String) -> Session? {
        sessions.withLock { $0[sessionId] }
    }

    func update(_ sessionId: String, metrics: MetricsSnapshot) {
        sessions.withLock { $0[sessionId]?.latestMetrics = metrics }
    }

    func close(_ sessionId: String) {
        _ = sessions.withLock { $0.removeValue(forKey: sessionId) }
    }

    var count: Int { sessions.withLock { $0.count } }

    var all: [(sessionId: String, session: Session)] {
        sessions.withLock { $0.map { ($0.key, $0.value) } }
    }
}
