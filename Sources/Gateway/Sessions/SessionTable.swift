import FleetProtocol
import FleetSupport
import Metrics
import Synchronization

/// The agent sessions live on this gateway. Kept so the gateway can report its load,
/// re-announce every session when the registry restarts (its new run knows none of them),
/// and later route commands to the right socket.
final class SessionTable: Sendable {
    struct Session: Sendable {
        var agent: AgentInfo
        /// The last snapshot, as its bytes (decoded only to announce the session again). Its
        /// own lock, set by the session's event loop on every heartbeat: the table's lock is
        /// taken only when sessions open and close.
        var latest: LatestSnapshot
        var latestMetrics: RawSnapshot? { latest.value }
        /// How the session authenticated, announced again as is when the registry restarts
        /// (an enrollment the new run may not have stored yet is then made again, same digest).
        var auth: SessionAuth
        /// Writes to the agent's socket (frames, or a close).
        var socket: AgentSocket
        /// Fired when the gateway closes the session (the registry's order, shutdown), so a
        /// session still waiting for something (its enrollment) stops at once.
        var closing: ShutdownSignal
    }

    private let sessions = Mutex<[String: Session]>([:])
    private let gauge = Gauge(label: "fleet_gateway_sessions")

    func open(
        _ sessionId: String, agent: AgentInfo, metrics: MetricsSnapshot?, auth: SessionAuth, socket: AgentSocket,
        closing: ShutdownSignal, latest: LatestSnapshot
    ) {
        if let first = metrics.flatMap({ try? RawSnapshot($0) }) { latest.value = first }
        let count = sessions.withLock { sessions in
            sessions[sessionId] = Session(agent: agent, latest: latest, auth: auth, socket: socket, closing: closing)
            return sessions.count
        }
        gauge.record(count)
    }

    func session(_ sessionId: String) -> Session? {
        sessions.withLock { $0[sessionId] }
    }

    func close(_ sessionId: String) {
        let count = sessions.withLock { sessions in
            sessions.removeValue(forKey: sessionId)
            return sessions.count
        }
        gauge.record(count)
    }

    var count: Int { sessions.withLock { $0.count } }

    /// The sessions of one agent (normally one; a scan, for the rare revocation).
    func sessions(agentId: String) -> [(sessionId: String, session: Session)] {
        sessions.withLock { $0.filter { $0.value.agent.id == agentId }.map { ($0.key, $0.value) } }
    }

    var all: [(sessionId: String, session: Session)] {
        sessions.withLock { $0.map { ($0.key, $0.value) } }
    }
}

/// One session's latest snapshot, shared by its handler (which sets it) and the table (which
/// reads it to announce the session again after a registry restart).
final class LatestSnapshot: Sendable {
    private let snapshot = Mutex<RawSnapshot?>(nil)

    var value: RawSnapshot? {
        get { snapshot.withLock { $0 } }
        set { snapshot.withLock { $0 = newValue } }
    }
}
