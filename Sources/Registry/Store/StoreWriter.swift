#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import FleetProtocol
import Logging
import Synchronization

/// What one write transaction carries. Upserts of the same key within a batch collapse to
/// the last one: at 10k heartbeats/s most agent rows are written once per batch, not per beat.
struct StoreBatch: Sendable {
    var agents: [String: AgentRecord] = [:]
    var deletedAgents: [String] = []
    var metrics: [(String, MetricsSnapshot)] = []
    var requests: [String: RequestRecord] = [:]
    var deletedRequests: [String] = []
    var alerts: [String: AlertRecord] = [:]
    var deletedAlerts: [String] = []
    var transitions: [(agentId: String, at: Date, state: AgentState, reason: String?)] = []
    var credentials: [String: AgentCredential] = [:]
    var keys: [String: APIKeyRecord] = [:]
    var audit: [AuditEntry] = []

    var isEmpty: Bool {
        agents.isEmpty && deletedAgents.isEmpty && metrics.isEmpty && requests.isEmpty && deletedRequests.isEmpty
            && transitions.isEmpty && alerts.isEmpty && deletedAlerts.isEmpty && credentials.isEmpty && keys.isEmpty
            && audit.isEmpty
    }
}

/// Writes behind the registry's hot path: callers add changes without waiting (a lock and an
/// append), and one task commits what accumulated every `interval` in a single transaction.
/// A crash loses at most the last interval's changes; the agents re-announce and re-send
/// what matters (sessions, heartbeats), and unfinished requests are re-issued.
public final class StoreWriter: Sendable {
    private let store: RegistryStore
    private let logger: Logger
    private let pending = Mutex(StoreBatch())
    /// Last state written per agent, to record transitions (not every heartbeat).
    private let lastState = Mutex<[String: AgentState]>([:])
    public let interval: Duration

    public init(store: RegistryStore, knownStates: [String: AgentState], interval: Duration = .milliseconds(100), logger: Logger) {
        self.store = store
        self.logger = logger
        self.interval = interval
        lastState.withLock { $0 = knownStates }
    }

    func agent(_ record: AgentRecord, now: Date) {
        let previous = lastState.withLock { states -> AgentState? in
            defer { states[record.id] = record.state }
            return states[record.id]
        }
        pending.withLock { batch in
            batch.agents[record.id] = record
            if previous != record.state {
                batch.transitions.append((record.id, now, record.state, record.stateReason))
            }
        }
    }

    func agentDeleted(_ id: String) {
        lastState.withLock { _ = $0.removeValue(forKey: id) }
        pending.withLock { batch in
            batch.agents.removeValue(forKey: id)
            batch.deletedAgents.append(id)
        }
    }

    func metrics(_ snapshot: MetricsSnapshot, agentId: String) {
        pending.withLock { $0.metrics.append((agentId, snapshot)) }
    }

    func request(_ record: RequestRecord) {
        pending.withLock { $0.requests[record.id] = record }
    }

    func requestDeleted(_ id: String) {
        pending.withLock { batch in
            batch.requests.removeValue(forKey: id)
            batch.deletedRequests.append(id)
        }
    }

    func alert(_ record: AlertRecord) {
        pending.withLock { $0.alerts[record.id] = record }
    }

    func credential(_ record: AgentCredential) {
        pending.withLock { $0.credentials[record.agentId] = record }
    }

    func key(_ record: APIKeyRecord) {
        pending.withLock { $0.keys[record.id] = record }
    }

    /// Audit lines are appended, never collapsed.
    func audit(_ entry: AuditEntry) {
        pending.withLock { $0.audit.append(entry) }
    }

    func alertDeleted(_ id: String) {
        pending.withLock { batch in
            batch.alerts.removeValue(forKey: id)
            batch.deletedAlerts.append(id)
        }
    }

    /// Commits every `interval` until cancelled, then once more.
    /// Most metrics rows that may wait for the store. Past it the registry stops taking bus
    /// events (``waitForRoom()``) until a commit makes room: ZeroMQ's high-water marks then
    /// slow the gateways, and they their agents, instead of this batch growing without bound
    /// when the disk is slower than the fleet (heaptrack of an overloaded registry in the
    /// bench: the pending rows grew with the backlog; bench/RESULTS.md).
    public static let maxPendingMetrics = 50_000

    /// Returns when the pending batch has room (at once, unless the store has fallen behind).
    func waitForRoom() async {
        while pending.withLock({ $0.metrics.count }) >= Self.maxPendingMetrics {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            await flush()
        }
        await flush()
    }

    /// Commits what has accumulated.
    func flush() async {
        let batch = pending.withLock { batch -> StoreBatch in
            defer { batch = StoreBatch() }
            return batch
        }
        guard !batch.isEmpty else { return }
        do {
            // In a task of its own: GRDB's async write honours cancellation, and a batch taken
            // from `pending` must be written even while the registry is shutting down.
            let store = self.store
            try await Task { try await store.write(batch) }.value
        } catch {
            logger.error("store write failed; changes of this batch are lost", metadata: ["error": "\(error)"])
        }
    }
}
