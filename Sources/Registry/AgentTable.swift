#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import FleetProtocol

/// Every agent the registry knows, and the liveness rules that change them.
///
/// A plain value with no I/O, so every rule is testable on its own. Each method returns the
/// records it changed; the registry numbers and publishes them (Clone rule 1).
///
/// Liveness rules (DESIGN.md section 5):
/// - hello on any gateway -> `online`; the newest session wins;
/// - that session's socket closes, or its gateway stops beating -> `disconnected`;
/// - no hello or heartbeat for `heartbeat.timeout` -> `offline`;
/// - a heartbeat on the live session -> `online` again.
public struct AgentTable: Sendable {
    /// The agents' state, without metrics: what is replicated at once when it changes (the
    /// `metrics` field stays nil here; snapshots live in ``metrics``).
    public private(set) var records: [String: AgentRecord] = [:]
    /// Each agent's latest snapshot, as bytes: replicated on the coalesced metrics feed, never
    /// decoded by the registry (issue 13: state apart from metrics).
    public private(set) var metrics: [String: LatestMetrics] = [:]
    /// The session each agent's gateway last reported closed. Heartbeats travel on their own
    /// lane (issue 13), so one read just before a close can arrive just after it: a beat on the
    /// very session its gateway said is gone must not bring the agent back.
    private var closedSessions: [String: String] = [:]

    /// The last snapshot an agent sent, when it arrived (registry clock), and what alert
    /// rules read from it.
    public struct LatestMetrics: Sendable, Equatable {
        public var snapshot: RawSnapshot
        public var vitals: MetricsVitals
        public var at: Date
        public init(snapshot: RawSnapshot, vitals: MetricsVitals, at: Date) {
            self.snapshot = snapshot
            self.vitals = vitals
            self.at = at
        }
    }

    /// What a heartbeat did.
    public enum HeartbeatOutcome: Sendable, Equatable {
        /// Not applied: unknown agent, or a superseded session.
        case ignored
        /// Applied; `changed` is the record when its *state* changed (heartbeat resumed, a
        /// session adopted), nil when only its time and metrics moved.
        case accepted(changed: AgentRecord?)
    }

    public init() {}

    /// Starts from records stored by an earlier run, and the latest stored snapshots.
    /// A record stored with its metrics inline (before issue 13) gives them up to ``metrics``.
    public init(loading records: [AgentRecord], metrics: [String: LatestMetrics] = [:]) {
        var table: [String: AgentRecord] = [:]
        var latest = metrics
        for var record in records {
            if let inline = record.metrics {
                if latest[record.id] == nil, let raw = try? RawSnapshot(inline) {
                    latest[record.id] = LatestMetrics(snapshot: raw, vitals: MetricsVitals(inline), at: record.lastSeen)
                }
                record.metrics = nil
            }
            // The last heartbeat is not written with the record (only state changes are):
            // the stored snapshot's arrival time stands for it.
            if let at = latest[record.id]?.at, at > record.lastSeen { record.lastSeen = at }
            table[record.id] = record
        }
        self.records = table
        self.metrics = latest.filter { table[$0.key] != nil }
    }

    /// Applies an agent-session event; returns the resulting changes (zero or one).
    /// `credential` is the admitted session's credential (nil with authentication off): it
    /// gives the record its tenant, and an agent not yet approved stays `pending`.
    public mutating func apply(_ event: BusEvent, now: Date, credential: AgentCredential? = nil) -> [AgentRecord] {
        switch event {
        case .sessionOpened(let opened):
            var record = records[opened.agent.id] ?? AgentRecord(info: opened.agent, state: .online, now: now)
            record.update(from: opened.agent)
            if let credential {
                record.tenant = credential.tenant
            }
            if credential?.approved == false {
                record.state = .pending
                record.stateReason = "waiting for approval (connected to gateway \(opened.gatewayId))"
            } else {
                record.state = .online
                record.stateReason = "connected to gateway \(opened.gatewayId)"
            }
            record.gatewayId = opened.gatewayId
            record.sessionId = opened.sessionId
            record.connectedAt = now
            record.lastSeen = now
            if let snapshot = opened.metrics, let raw = try? RawSnapshot(snapshot) {
                metrics[record.id] = LatestMetrics(snapshot: raw, vitals: MetricsVitals(snapshot), at: now)
            }
            return [commit(record)]

        case .heartbeat(let beat):
            if case .accepted(let changed?) = heartbeat(beat, now: now) { return [changed] }
            return []

        case .sessionClosed(let closed):
            guard var record = records[closed.agentId], record.sessionId == closed.sessionId else {
                return []  // the agent already has a newer session
            }
            if record.state.followsConnection {
                record.state = .disconnected
                record.stateReason = closed.reason
            }
            record.disconnectedAt = now
            record.gatewayId = nil
            record.sessionId = nil
            closedSessions[closed.agentId] = closed.sessionId
            return [commit(record)]

        case .gatewayHeartbeat, .workerHeartbeat, .requestCreated, .requestResult, .agentDelete, .samples,
            .agentApprove, .agentRevoke, .keyCreated, .keyRevoked, .audit:
            return []
        }
    }

    /// A heartbeat on a session: the agent's time and snapshot move on; its state changes
    /// only if it was not online on this session.
    public mutating func heartbeat(_ beat: BusEvent.SessionHeartbeat, now: Date) -> HeartbeatOutcome {
        guard var record = records[beat.agentId] else {
            return .ignored  // a session this registry run has not heard announced
        }
        var changed = false
        if record.sessionId == nil, closedSessions[beat.agentId] == beat.sessionId {
            // Late: read before the close, arrived after it. Its sample is kept (history, the
            // latest snapshot); its claim to a live session is not.
            record.lastSeen = max(record.lastSeen, now)
            records[beat.agentId] = record
            metrics[beat.agentId] = LatestMetrics(snapshot: beat.metrics, vitals: beat.vitals, at: now)
            return .accepted(changed: nil)
        }
        if record.sessionId == nil, record.state.followsConnection {
            // The session was reported closed, yet its gateway still carries beats on it:
            // the socket is up, so the agent is online on it (the beat proves it; a
            // superseded session never gets here, its successor holds `sessionId`).
            record.sessionId = beat.sessionId
            record.connectedAt = record.connectedAt ?? now
            record.disconnectedAt = nil
            changed = true
        }
        guard record.sessionId == beat.sessionId else {
            return .ignored  // a superseded session
        }
        record.lastSeen = now
        if record.gatewayId != beat.gatewayId {
            record.gatewayId = beat.gatewayId
            changed = true
        }
        if record.state != .online && record.state.followsConnection {
            record.state = .online
            record.stateReason = "heartbeat resumed"
            changed = true
        }
        metrics[beat.agentId] = LatestMetrics(snapshot: beat.metrics, vitals: beat.vitals, at: now)
        records[beat.agentId] = record
        return .accepted(changed: changed ? record : nil)
    }

    /// Agents online or disconnected whose last sign of life is older than `timeout` become
    /// `offline` (the seed's `heartbeat.timeout`, checked every `heartbeat.cleanup_interval`).
    public mutating func sweep(now: Date, timeout: TimeInterval) -> [AgentRecord] {
        let expired = records.values.filter {
            $0.state != .offline && $0.state.followsConnection && now.timeIntervalSince($0.lastSeen) > timeout
        }
        return expired.sorted { $0.id < $1.id }.map { stale in
            var record = stale
            record.state = .offline
            record.stateReason = "no heartbeat for \(Int(timeout)) s"
            return commit(record)
        }
    }

    /// A gateway stopped beating (crashed or cut off): its agents are `disconnected`.
    /// The session id is kept: if the gateway was only cut off and comes back, the next
    /// heartbeat on that session brings the agent back `online` without a new hello.
    public mutating func gatewayLost(_ gatewayId: String, now: Date) -> [AgentRecord] {
        let affected = records.values.filter { $0.gatewayId == gatewayId && ($0.state == .online || $0.state == .pending) }
        return affected.sorted { $0.id < $1.id }.map { lost in
            var record = lost
            if record.state == .online {
                record.state = .disconnected
                record.stateReason = "gateway \(gatewayId) lost"
            }
            record.disconnectedAt = now
            record.gatewayId = nil
            return commit(record)
        }
    }

    /// Gateways that hold live sessions according to the table.
    public var gatewaysWithSessions: Set<String> {
        Set(records.values.compactMap { $0.state == .online || $0.state == .pending ? $0.gatewayId : nil })
    }

    /// Forgets an agent; returns whether it was known.
    public mutating func remove(_ agentId: String) -> Bool {
        metrics.removeValue(forKey: agentId)
        closedSessions.removeValue(forKey: agentId)
        return records.removeValue(forKey: agentId) != nil
    }

    /// An approved agent leaves `pending`: `online` if its session is live, else `disconnected`.
    public mutating func approved(_ agentId: String, by: String, now: Date) -> AgentRecord? {
        guard var record = records[agentId], record.state == .pending else { return nil }
        if record.sessionId != nil && record.gatewayId != nil {
            record.state = .online
            record.stateReason = "approved by \(by)"
            record.lastSeen = now
        } else {
            record.state = .disconnected
            record.stateReason = "approved by \(by); not connected"
        }
        return commit(record)
    }

    /// A revoked agent: `revoked` for good, its session forgotten (the registry tells its
    /// gateway to close it). Returns the record and the session that was live, if any.
    public mutating func revoked(_ agentId: String, by: String, now: Date) -> (record: AgentRecord, session: (gatewayId: String, sessionId: String)?)? {
        guard var record = records[agentId], record.state != .revoked else { return nil }
        let session = record.gatewayId.flatMap { gateway in record.sessionId.map { (gateway, $0) } }
        record.state = .revoked
        record.stateReason = "credential revoked by \(by)"
        record.disconnectedAt = now
        record.gatewayId = nil
        record.sessionId = nil
        return (commit(record), session)
    }

    private mutating func commit(_ record: AgentRecord) -> AgentRecord {
        records[record.id] = record
        return record
    }
}
