#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import FleetProtocol

/// The client side of the zguide "Clone" pattern as a value: the replica's tables, its
/// phase, and the rules that keep the copy exact, with no sockets, clocks or locks
/// (``CloneReplica`` drives it). Every input returns what to do next, so each rule is tested
/// by feeding inputs (Tests/FleetTests/CloneSyncTests).
///
/// The protocol, in the guide's order:
/// 1. Subscribe to updates first (so nothing published from now on is missed), buffering.
/// 2. Ask for a snapshot; it arrives in chunks stamped with sequence S.
/// 3. Replace the tables with the snapshot, drop buffered updates with seq <= S, apply the
///    rest, and from then on apply live updates in order.
/// 4. Any gap (an update with seq != last + 1, or a HUGZ beat ahead of us), a new epoch (the
///    registry restarted), too many buffered updates, or a snapshot that sends no chunk for
///    ``snapshotTimeout`` (doubling after each timeout, up to ``maxSnapshotTimeout``): start over.
///
/// Beside the sequence, the metrics feed (``MetricsFeed``): entries latest-wins by arrival
/// time, applied for known agents only, buffered while a snapshot is on its way.
public struct CloneSync: Sendable {
    /// One update off the PUB, its body already decoded (outside any lock, by the driver).
    public struct Update: Sendable {
        public var header: UpdateHeader
        public var body: Body
        public init(header: UpdateHeader, body: Body) {
            self.header = header
            self.body = body
        }
    }

    public enum Body: Sendable {
        case record(ReplicatedRecord)
        case hugz
        /// A body that would not decode: the update still counts in the sequence.
        case undecodable(topic: String)
    }

    /// What the driver must do after an input.
    public enum Effect: Sendable {
        /// Send a snapshot request with this nonce (the phase is already `syncing`).
        case requestSnapshot(nonce: String, reason: String, cause: ResyncCause)
        /// A snapshot from a new registry run was applied (not the first one).
        case epochChanged(epoch: String, previous: String?)
        case synced(seq: UInt64, epoch: String, agents: Int)
        case undecodable(topic: String)
    }

    /// Why a snapshot was asked for (the `cause` label of `fleet_replica_resyncs_total`).
    public enum ResyncCause: String, Sendable {
        case start, gap, epoch, timeout, overflow
    }

    enum Phase: Sendable, Equatable {
        case idle
        case syncing(nonce: String, since: ContinuousClock.Instant)
        case synced
    }

    // MARK: The tables

    public private(set) var records: [String: AgentRecord] = [:]
    public private(set) var metrics: [String: MetricsEntry] = [:]
    public private(set) var requests: [String: RequestRecord] = [:]
    public private(set) var alerts: [String: AlertRecord] = [:]
    public private(set) var keys: [String: APIKeyRecord] = [:]
    /// Key id by secret digest: how a presented bearer key is found.
    public private(set) var keysByDigest: [String: String] = [:]
    public private(set) var credentials: [String: AgentCredential] = [:]

    // MARK: The protocol's state

    public private(set) var seq: UInt64 = 0
    public private(set) var epoch: String?
    private(set) var phase: Phase = .idle
    private var received = SnapshotChunk(agents: [], requests: [])
    private var receivedMetrics: [MetricsFeed.Entry] = []
    private var pending: [Update] = []
    private var pendingMetrics: [MetricsFeed.Entry] = []
    public private(set) var lastHeard: ContinuousClock.Instant?
    public private(set) var snapshots = 0
    /// A snapshot has been applied once: the copy holds the fleet (maybe a little behind
    /// during a later resync, but never empty for want of one).
    public private(set) var everSynced = false
    public private(set) var gaps = 0
    /// Updates the registry published that never arrived on the PUB, in whatever phase they
    /// were due: counted from the sequence heard (``Heard``), not from the gaps that start a
    /// resync, since a PUB that drops while a snapshot is on its way drops just as much.
    public private(set) var missedUpdates: UInt64 = 0
    /// The highest sequence heard on the PUB in one registry run (an update, a HUGZ beat's
    /// seq, or a snapshot's), and the first one the replica expected to hear in it.
    struct Heard: Sendable, Equatable {
        var epoch: String
        var seq: UInt64
        /// The first sequence heard since tracking began in this epoch (a beat at H counts as
        /// H + 1), or 0 once a snapshot has accounted for what came before it.
        var first: UInt64
    }
    private(set) var heard: Heard?
    /// Metrics batches that never arrived (the feed's own sequence).
    public private(set) var missedMetricBatches: UInt64 = 0
    private var metricsSeq: (epoch: String, seq: UInt64)?
    private var snapshotTimeout = CloneSync.snapshotTimeout
    private var nonces = 0
    private let noncePrefix: String
    private let maxPending: Int

    /// Buffered updates kept while a snapshot is on its way; past this we start over.
    public static let maxPending = 1_000_000
    /// Buffered metrics entries while syncing; past this the oldest are dropped (the next
    /// heartbeats replace them).
    public static let maxPendingMetrics = 200_000
    /// A snapshot that sends no chunk for this long is asked for again. The wait is for the
    /// next chunk, not the whole snapshot (a large fleet may take longer than any fixed
    /// deadline), and it doubles after each timeout, so a registry that is only slow is not
    /// asked for a new snapshot every few seconds for ever.
    public static let snapshotTimeout: Duration = .seconds(2)
    public static let maxSnapshotTimeout: Duration = .seconds(30)

    public init(noncePrefix: String, maxPending: Int = CloneSync.maxPending) {
        self.noncePrefix = noncePrefix
        self.maxPending = maxPending
    }

    public var isSynced: Bool { phase == .synced }

    // MARK: Inputs

    /// Starts (or restarts) the handshake: buffer updates, ask for a snapshot.
    public mutating func requestSnapshot(reason: String, cause: ResyncCause, now: ContinuousClock.Instant) -> Effect {
        nonces += 1
        let nonce = "\(noncePrefix)-\(nonces)"
        phase = .syncing(nonce: nonce, since: now)
        received = SnapshotChunk(agents: [], requests: [])
        receivedMetrics = []
        pending = []
        snapshots += 1
        return .requestSnapshot(nonce: nonce, reason: reason, cause: cause)
    }

    /// One update off the PUB. Returns the changes applied and what else to do.
    public mutating func receive(_ update: Update, now: ContinuousClock.Instant) -> (changes: [CloneReplica.Change], effects: [Effect]) {
        lastHeard = now
        let header = update.header
        if phase != .idle { hear(header) }
        switch phase {
        case .idle:
            return ([], [])
        case .syncing:
            guard header.op != .hugz else { return ([], []) }
            pending.append(update)
            if pending.count > maxPending {
                return ([], [requestSnapshot(reason: "too many updates while waiting for the snapshot", cause: .overflow, now: now)])
            }
            return ([], [])
        case .synced:
            guard header.epoch == epoch else {
                return ([], [requestSnapshot(reason: "registry epoch changed to \(header.epoch)", cause: .epoch, now: now)])
            }
            if header.op == .hugz {
                guard header.seq > seq else { return ([], []) }
                let reason = "missed updates \(seq + 1)...\(header.seq)"
                gaps += 1
                return ([], [requestSnapshot(reason: reason, cause: .gap, now: now)])
            }
            if header.seq <= seq { return ([], []) }  // already have it
            guard header.seq == seq + 1 else {
                let reason = "gap: expected \(seq + 1), got \(header.seq)"
                gaps += 1
                return ([], [requestSnapshot(reason: reason, cause: .gap, now: now)])
            }
            var effects: [Effect] = []
            let change = apply(update, effects: &effects)
            return (change.map { [$0] } ?? [], effects)
        }
    }

    /// One metrics-feed batch. Applied when synced on the same epoch; buffered while syncing.
    public mutating func receive(metrics header: MetricsFeed.Header, entries: [MetricsFeed.Entry], now: ContinuousClock.Instant) -> [CloneReplica.Change] {
        lastHeard = now
        if let last = metricsSeq, last.epoch == header.epoch, header.seq > last.seq + 1 {
            missedMetricBatches += header.seq - last.seq - 1
        }
        metricsSeq = (header.epoch, header.seq)
        switch phase {
        case .idle:
            return []
        case .syncing:
            pendingMetrics.append(contentsOf: entries)
            if pendingMetrics.count > Self.maxPendingMetrics { pendingMetrics.removeFirst(pendingMetrics.count - Self.maxPendingMetrics) }
            return []
        case .synced:
            guard header.epoch == epoch else { return [] }  // the epoch's first update resyncs us
            var changes: [CloneReplica.Change] = []
            for entry in entries {
                if let change = applyMetrics(entry) { changes.append(change) }
            }
            return changes
        }
    }

    /// One snapshot chunk (with the metrics entries of a fourth frame, if any).
    public mutating func receive(
        chunk header: SnapshotHeader, _ chunk: SnapshotChunk, metrics entries: [MetricsFeed.Entry], now: ContinuousClock.Instant
    ) -> (changes: [CloneReplica.Change], effects: [Effect]) {
        guard case .syncing(let nonce, _) = phase, nonce == header.nonce else {
            return ([], [])  // an answer to a request we already gave up on
        }
        received.agents.append(contentsOf: chunk.agents)
        received.requests.append(contentsOf: chunk.requests)
        received.alerts.append(contentsOf: chunk.alerts)
        received.keys.append(contentsOf: chunk.keys)
        received.credentials.append(contentsOf: chunk.credentials)
        receivedMetrics.append(contentsOf: entries)
        guard header.last else {
            phase = .syncing(nonce: nonce, since: now)  // progress: the deadline is for the next chunk
            return ([], [])
        }
        let previousEpoch = epoch
        account(snapshot: header)
        records = Dictionary(received.agents.map { ($0.id, $0) }, uniquingKeysWith: { _, new in new })
        requests = Dictionary(received.requests.map { ($0.id, $0) }, uniquingKeysWith: { _, new in new })
        alerts = Dictionary(received.alerts.map { ($0.id, $0) }, uniquingKeysWith: { _, new in new })
        keys = Dictionary(received.keys.map { ($0.id, $0) }, uniquingKeysWith: { _, new in new })
        keysByDigest = Dictionary(received.keys.map { ($0.secretSHA256, $0.id) }, uniquingKeysWith: { _, new in new })
        credentials = Dictionary(received.credentials.map { ($0.agentId, $0) }, uniquingKeysWith: { _, new in new })
        // Metrics: what the snapshot had, unless an entry seen meanwhile is newer.
        var fresh: [String: MetricsEntry] = [:]
        for entry in receivedMetrics where records[entry.agentId] != nil {
            fresh[entry.agentId] = MetricsEntry(entry)
        }
        for (id, entry) in self.metrics where records[id] != nil && (fresh[id].map { $0.at < entry.at } ?? true) {
            fresh[id] = entry
        }
        self.metrics = fresh
        var changes: [CloneReplica.Change] = [.resynced(epoch: header.epoch, seq: header.seq)]
        changes += received.requests.map { .request($0, seq: header.seq) }
        changes += received.credentials.map { .credential($0, seq: header.seq) }
        received = SnapshotChunk(agents: [], requests: [])
        receivedMetrics = []
        seq = header.seq
        epoch = header.epoch
        phase = .synced
        everSynced = true
        snapshotTimeout = Self.snapshotTimeout
        lastHeard = now
        var effects: [Effect] = []
        let buffered = pending
        pending = []
        for update in buffered where update.header.epoch == header.epoch && update.header.seq > seq {
            guard update.header.seq == seq + 1 else {
                let reason = "gap after snapshot: expected \(seq + 1), got \(update.header.seq)"
                gaps += 1  // what it skipped was counted as it was heard, or by `account`
                effects.append(requestSnapshot(reason: reason, cause: .gap, now: now))
                return (changes, effects)
            }
            if let change = apply(update, effects: &effects) { changes.append(change) }
        }
        let bufferedMetrics = pendingMetrics
        pendingMetrics = []
        for entry in bufferedMetrics {
            if let change = applyMetrics(entry) { changes.append(change) }
        }
        effects.append(.synced(seq: seq, epoch: header.epoch, agents: records.count))
        if previousEpoch != header.epoch && previousEpoch != nil {
            effects.append(.epochChanged(epoch: header.epoch, previous: previousEpoch))
        }
        return (changes, effects)
    }

    /// Time passes: a snapshot overdue is asked for again, with a longer wait.
    public mutating func tick(now: ContinuousClock.Instant) -> Effect? {
        guard case .syncing(_, let since) = phase, now - since > snapshotTimeout else { return nil }
        let waited = snapshotTimeout
        snapshotTimeout = min(waited * 2, Self.maxSnapshotTimeout)
        return requestSnapshot(reason: "snapshot timed out (no chunk for \(waited))", cause: .timeout, now: now)
    }

    // MARK: Applying

    /// Counts what the PUB dropped before this update or beat: every sequence between the last
    /// one heard and this one. The first one heard in a registry run starts the count.
    private mutating func hear(_ header: UpdateHeader) {
        // A beat carries the registry's current seq: the next update due is one past it.
        let next = header.op == .hugz ? header.seq + 1 : header.seq
        guard var last = heard, last.epoch == header.epoch else {
            heard = Heard(epoch: header.epoch, seq: header.seq, first: next)
            return
        }
        if next > last.seq + 1 { missedUpdates += next - last.seq - 1 }
        last.seq = max(last.seq, header.seq)
        heard = last
    }

    /// A snapshot at S was taken after the replica subscribed, so every update after S was
    /// due on the PUB: those before the first one heard, and those up to S beyond the last one
    /// heard, never arrived.
    private mutating func account(snapshot header: SnapshotHeader) {
        guard var last = heard, last.epoch == header.epoch else {
            heard = Heard(epoch: header.epoch, seq: header.seq, first: 0)
            return
        }
        if last.first > header.seq + 1 { missedUpdates += last.first - header.seq - 1 }
        if last.seq < header.seq { missedUpdates += header.seq - last.seq }
        last.first = 0
        last.seq = max(last.seq, header.seq)
        heard = last
    }

    private mutating func apply(_ update: Update, effects: inout [Effect]) -> CloneReplica.Change? {
        let header = update.header
        seq = header.seq
        switch update.body {
        case .record(.agent(let record)):
            records[record.id] = record
            return .agent(record, seq: header.seq)
        case .record(.agentDeleted(let id)):
            records.removeValue(forKey: id)
            metrics.removeValue(forKey: id)
        case .record(.request(let record)):
            requests[record.id] = record
            return .request(record, seq: header.seq)
        case .record(.requestDeleted(let id)):
            requests.removeValue(forKey: id)
        case .record(.alert(let alert)):
            alerts[alert.id] = alert
            return .alert(alert, seq: header.seq)
        case .record(.alertDeleted(let id)):
            alerts.removeValue(forKey: id)
        case .record(.key(let key)):
            keys[key.id] = key
            keysByDigest[key.secretSHA256] = key.id
            return .key(key, seq: header.seq)
        case .record(.credential(let credential)):
            credentials[credential.agentId] = credential
            return .credential(credential, seq: header.seq)
        case .hugz:
            break
        case .undecodable(let topic):
            effects.append(.undecodable(topic: topic))
        }
        return nil
    }

    /// Latest-wins by arrival time; an agent the state does not know is skipped (deleted, or
    /// not announced yet: the state update comes first on the same PUB).
    private mutating func applyMetrics(_ entry: MetricsFeed.Entry) -> CloneReplica.Change? {
        guard let record = records[entry.agentId] else { return nil }
        if let current = metrics[entry.agentId], current.at > entry.at { return nil }
        let stored = MetricsEntry(entry)
        metrics[entry.agentId] = stored
        return .metrics(record, stored, seq: seq)
    }
}
