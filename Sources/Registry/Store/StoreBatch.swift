#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import FleetProtocol

/// What one write transaction carries. Upserts of the same key within a batch collapse to
/// the last one: at 10k heartbeats/s most agent rows are written once per batch, not per beat.
///
/// The rules that keep a collapsed batch equal to the changes in the order they were made
/// (``RegistryStore/write(_:)`` applies them in this order: deletes, upserts, appends):
/// - a key in `deleted…` is deleted *before* its upsert (if any) is written: a delete drops
///   the key's earlier upsert from the batch, so an upsert beside a delete always came after it;
/// - deleting an agent also drops its earlier metrics and transitions from the batch (the
///   delete removes its history rows), while later ones stay and land after the delete;
/// - appends (metrics, transitions, audit) keep their order.
///
/// A batch whose write failed is kept and ``merge(_:)``d with what arrived since, under the
/// same rules, so a retry writes exactly what the two batches in sequence would have.
struct StoreBatch: Sendable {
    var agents: [String: Encoded<AgentRecord>] = [:]
    var deletedAgents: Set<String> = []
    /// History rows (append with ``appendMetrics(_:agentId:)``, which keeps ``bytes``).
    private(set) var metrics: [(String, RawSnapshot)] = []
    var requests: [String: Encoded<RequestRecord>] = [:]
    var deletedRequests: Set<String> = []
    var alerts: [String: Encoded<AlertRecord>] = [:]
    var deletedAlerts: Set<String> = []
    var transitions: [(agentId: String, at: Date, state: AgentState, reason: String?)] = []
    var credentials: [String: Encoded<AgentCredential>] = [:]
    var keys: [String: Encoded<APIKeyRecord>] = [:]
    var audit: [AuditEntry] = []

    /// Bytes of the history rows this batch holds: what grows with the heartbeat rate (the
    /// upserts collapse per key, so their memory is bounded by the fleet, not the rate).
    private(set) var bytes = 0

    var isEmpty: Bool { rows == 0 }

    /// Per history row beyond the snapshot's bytes: the tuple, the id, the array slot.
    static let rowOverhead = 64

    mutating func appendMetrics(_ snapshot: RawSnapshot, agentId: String) {
        metrics.append((agentId, snapshot))
        bytes += snapshot.bytes.count + Self.rowOverhead
    }

    /// Rows this batch will write (deletes count one each): the measure of the back-pressure bound.
    var rows: Int {
        agents.count + deletedAgents.count + metrics.count + requests.count + deletedRequests.count + alerts.count
            + deletedAlerts.count + transitions.count + credentials.count + keys.count + audit.count
    }

    mutating func deleteAgent(_ id: String) {
        agents.removeValue(forKey: id)
        deletedAgents.insert(id)
        metrics.removeAll { $0.0 == id }
        bytes = metrics.reduce(0) { $0 + $1.1.bytes.count + Self.rowOverhead }
        transitions.removeAll { $0.agentId == id }
    }

    mutating func deleteRequest(_ id: String) {
        requests.removeValue(forKey: id)
        deletedRequests.insert(id)
    }

    mutating func deleteAlert(_ id: String) {
        alerts.removeValue(forKey: id)
        deletedAlerts.insert(id)
    }

    /// Adds `newer` (changes made after every change in this batch) on top of this one.
    mutating func merge(_ newer: StoreBatch) {
        for id in newer.deletedAgents { deleteAgent(id) }
        for id in newer.deletedRequests { deleteRequest(id) }
        for id in newer.deletedAlerts { deleteAlert(id) }
        agents.merge(newer.agents) { _, new in new }
        requests.merge(newer.requests) { _, new in new }
        alerts.merge(newer.alerts) { _, new in new }
        credentials.merge(newer.credentials) { _, new in new }
        keys.merge(newer.keys) { _, new in new }
        metrics.append(contentsOf: newer.metrics)
        bytes += newer.bytes
        transitions.append(contentsOf: newer.transitions)
        audit.append(contentsOf: newer.audit)
    }
}

/// A record with its JSON, encoded once by the registry core and given both to the Clone PUB
/// and to the store (issue 13: no second encoding for the store).
struct Encoded<Record: Sendable & Encodable>: Sendable {
    var record: Record
    var json: [UInt8]

    init(_ record: Record, json: [UInt8]) {
        self.record = record
        self.json = json
    }

    /// Encodes here (tests, and paths with no encoded form at hand).
    init(_ record: Record) {
        self.record = record
        self.json = (try? FleetJSON.encode(record)) ?? []
    }

    var text: String { String(decoding: json, as: UTF8.self) }
}
