#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import FleetProtocol
import Logging
import Metrics
import Synchronization
import ZeroMQ

/// The client half of the zguide "Clone" pattern: a local, eventually identical copy of
/// the registry's agent and request tables, kept by every gateway so reads scale with gateways.
///
/// The protocol, in the guide's order:
/// 1. SUBscribe to updates first (so nothing published from now on is missed), buffering.
/// 2. Ask for a snapshot over DEALER; it arrives in chunks stamped with sequence S.
/// 3. Replace the table with the snapshot, drop buffered updates with seq <= S, apply the
///    rest, and from then on apply live updates in order.
/// 4. Any gap (an update with seq != last + 1, or a HUGZ beat ahead of us), a new epoch
///    (the registry restarted) or a snapshot that sends no chunk for 2 s (doubling after each
///    timeout, up to 30 s): start over.
/// PUB is lossy by design; these rules are what make the copy exact anyway.
public final class CloneReplica: Sendable {
    public struct Status: Sendable, Equatable {
        /// True once a snapshot has been applied and no gap is pending.
        public var synced: Bool
        public var seq: UInt64
        public var epoch: String?
        /// Seconds since anything (update or HUGZ) arrived from the registry; nil before that.
        public var secondsSinceHeard: Double?
        /// Snapshots requested after the first one (gaps, restarts, timeouts).
        public var resyncs: Int
        public var agents: Int
        /// A snapshot has been applied at least once since start: before that the copy is
        /// empty and must not be served as the fleet.
        public var hasSynced: Bool = false
        /// Gaps seen in the update sequence (each one costs a resync).
        public var gaps: Int = 0
        /// Updates the registry published that never arrived here: the sum of the gaps' widths.
        /// This is where PUB drops are counted (see `missedUpdatesCounter`).
        public var missedUpdates: UInt64 = 0
    }

    private enum Phase {
        case idle
        case syncing(nonce: String, since: ContinuousClock.Instant, received: SnapshotChunk)
        case synced
    }

    /// A change applied to the replica, for whoever follows it (`?wait=` on a request, the
    /// SSE feed). `seq` is the registry's sequence number of the update.
    public enum Change: Sendable {
        case agent(AgentRecord, seq: UInt64)
        case request(RequestRecord, seq: UInt64)
        case alert(AlertRecord, seq: UInt64)
        /// An API key or enrollment token was created or revoked.
        case key(APIKeyRecord, seq: UInt64)
        /// An agent's credential was issued, approved or revoked.
        case credential(AgentCredential, seq: UInt64)
        /// A snapshot replaced the whole state (first sync, a gap, a registry restart): a
        /// follower that keeps its own view should start again from the replica.
        case resynced(epoch: String, seq: UInt64)
    }

    private struct Pending {
        var header: UpdateHeader
        var topic: String
        var body: [UInt8]
    }

    private struct State {
        var records: [String: AgentRecord] = [:]
        var requests: [String: RequestRecord] = [:]
        var alerts: [String: AlertRecord] = [:]
        var keys: [String: APIKeyRecord] = [:]
        /// Key id by secret digest: how a presented bearer key is found.
        var keysByDigest: [String: String] = [:]
        var credentials: [String: AgentCredential] = [:]
        var seq: UInt64 = 0
        var epoch: String?
        var phase: Phase = .idle
        var pending: [Pending] = []
        var lastHeard: ContinuousClock.Instant?
        var snapshots = 0
        /// A snapshot has been applied once: the copy holds the fleet (maybe a little behind
        /// during a later resync, but never empty for want of one).
        var everSynced = false
        var gaps = 0
        var missedUpdates: UInt64 = 0
        /// How long the snapshot in progress may go without a chunk: doubled after each
        /// timeout (up to `maxSnapshotTimeout`), back to `snapshotTimeout` once synced.
        var snapshotTimeout = CloneReplica.snapshotTimeout
    }

    private let subscriber: ZMQSocket
    private let dealer: ZMQSocket
    private let state = Mutex(State())
    private let logger: Logger
    private let onMessage: @Sendable (ZMQMessage) -> Void
    private let onEpochChange: @Sendable (_ epoch: String, _ previous: String?) -> Void
    private let onChange: @Sendable ([Change]) -> Void
    /// Holds the update loop while closed (tests: a gateway that stops reading its SUB).
    let updateGate = UpdateGate()

    /// `fleet_replica_resyncs_total{cause}`: snapshots asked for after the first one, by
    /// cause (`gap`, `epoch`, `timeout`, `overflow`).
    static func resyncsCounter(cause: ResyncCause) -> Counter {
        Counter(label: "fleet_replica_resyncs_total", dimensions: [("cause", cause.rawValue)])
    }
    /// `fleet_replica_gaps_total`: breaks in the update sequence seen by this process's replica.
    static let gapsCounter = Counter(label: "fleet_replica_gaps_total")
    /// `fleet_replica_missed_updates_total`: how PUB drops are measured. libzmq's PUB drops
    /// silently at a subscriber's HWM and keeps no count; ZMQ_XPUB_NODROP would let the
    /// registry see EAGAIN, but it refuses the message for *every* subscriber as soon as one
    /// is full, so one slow gateway would make all of them miss updates. The sequence numbers
    /// already tell each replica exactly how many updates it did not get, per subscriber, at
    /// no cost on the publishing side: the count is kept here, on each gateway's /metrics.
    static let missedUpdatesCounter = Counter(label: "fleet_replica_missed_updates_total")

    /// Why a snapshot was asked for again (the metric's `cause` label).
    enum ResyncCause: String, Sendable {
        case start, gap, epoch, timeout, overflow
    }

    /// Buffered updates kept while a snapshot is on its way; past this we start over.
    static let maxPending = 1_000_000
    /// A snapshot that sends no chunk for this long is asked for again. The wait is for the
    /// next chunk, not for the whole snapshot (a large fleet may take longer than any fixed
    /// deadline), and it doubles after each timeout, so a registry that is only slow (loaded,
    /// or far) is not asked for a new snapshot every few seconds for ever. Chunks are at most
    /// `SnapshotChunking.maxBytes`, so the whole deadline scales with the snapshot's size (its
    /// number of chunks) while each wait asks a fixed minimum speed of the link.
    static let snapshotTimeout: Duration = .seconds(2)
    static let maxSnapshotTimeout: Duration = .seconds(30)

    /// - Parameters:
    ///   - updatesHighWaterMark: the SUB's receive HWM (tests make it small to force drops).
    ///   - extraSubscriptions: other topic prefixes to receive on the same SUB (a gateway's
    ///     `gw.<id>` commands); those messages go to `onMessage`.
    ///   - onEpochChange: called when a snapshot from a new registry run has been applied
    ///     (not for the first one), so the owner can re-announce what the new run lost.
    public init(
        context: ZMQContext, updates: String, snapshot: String, security: BusSecurity, extraSubscriptions: [String] = [],
        updatesHighWaterMark: Int32 = BusTuning.updateHighWaterMark, logger: Logger,
        onMessage: @escaping @Sendable (ZMQMessage) -> Void = { _ in },
        onEpochChange: @escaping @Sendable (_ epoch: String, _ previous: String?) -> Void = { _, _ in },
        onChange: @escaping @Sendable ([Change]) -> Void = { _ in }
    ) throws {
        self.onChange = onChange
        self.subscriber = try context.socket(.sub)
        self.dealer = try context.socket(.dealer)
        self.logger = logger
        self.onMessage = onMessage
        self.onEpochChange = onEpochChange
        try BusTuning.apply(to: subscriber, highWaterMark: updatesHighWaterMark)
        try BusTuning.apply(to: dealer, highWaterMark: BusTuning.taskHighWaterMark)
        try subscriber.subscribe(BusTopic.agentPrefix)
        try subscriber.subscribe(BusTopic.requestPrefix)
        try subscriber.subscribe(BusTopic.alertPrefix)
        try subscriber.subscribe(BusTopic.keyPrefix)
        try subscriber.subscribe(BusTopic.credentialPrefix)
        try subscriber.subscribe(BusTopic.hugz)
        for topic in extraSubscriptions { try subscriber.subscribe(topic) }
        // With CURVE both verify the registry's key: nobody else can publish to this replica.
        try security.connect(subscriber)
        try security.connect(dealer)
        try subscriber.connect(updates)
        try dealer.connect(snapshot)
        // Exported from the start (at 0), so a dashboard's rate() has a series before the first gap.
        Self.gapsCounter.increment(by: 0)
        Self.missedUpdatesCounter.increment(by: 0)
    }

    // MARK: Reads (served to the REST API)

    /// All agents, ordered by id.
    public func agents() -> [AgentRecord] {
        state.withLock { Array($0.records.values) }.sorted { $0.id < $1.id }
    }

    public func agent(id: String) -> AgentRecord? {
        state.withLock { $0.records[id] }
    }

    public func request(id: String) -> RequestRecord? {
        state.withLock { $0.requests[id] }
    }

    /// One agent's requests, in no particular order.
    public func requests(agentId: String) -> [RequestRecord] {
        state.withLock { $0.requests.values.filter { $0.agentId == agentId } }
    }

    /// Firing and recently resolved alerts, newest first.
    public func alerts() -> [AlertRecord] {
        state.withLock { Array($0.alerts.values) }.sorted { $0.firedAt > $1.firedAt }
    }

    /// The key whose secret has this SHA-256 (hex), revoked or not.
    public func key(digest: String) -> APIKeyRecord? {
        state.withLock { state in state.keysByDigest[digest].flatMap { state.keys[$0] } }
    }

    public func key(id: String) -> APIKeyRecord? {
        state.withLock { $0.keys[id] }
    }

    /// Every API key and enrollment token, ordered by creation.
    public func keys() -> [APIKeyRecord] {
        state.withLock { Array($0.keys.values) }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    public func credential(agentId: String) -> AgentCredential? {
        state.withLock { $0.credentials[agentId] }
    }

    /// A snapshot has been applied at least once (``Status/hasSynced``), without building the
    /// whole status: checked on every API call.
    public var hasSynced: Bool { state.withLock { $0.everSynced } }

    public var status: Status {
        state.withLock { state in
            let synced: Bool = if case .synced = state.phase { true } else { false }
            return Status(
                synced: synced, seq: state.seq, epoch: state.epoch,
                secondsSinceHeard: state.lastHeard.map { (ContinuousClock.now - $0).inSeconds },
                resyncs: max(0, state.snapshots - 1), agents: state.records.count, hasSynced: state.everSynced,
                gaps: state.gaps, missedUpdates: state.missedUpdates
            )
        }
    }

    // MARK: Running

    /// Runs the replica until cancelled.
    public func run() async {
        requestSnapshot(reason: "start", cause: .start)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.receiveUpdates() }
            group.addTask { await self.receiveSnapshots() }
            group.addTask { await self.watchdog() }
            await group.next()
            group.cancelAll()
        }
    }

    private func receiveUpdates() async {
        do {
            for await batch in try subscriber.receiver() {
                await updateGate.pass()
                var resync: (String, ResyncCause)?
                var others: [ZMQMessage] = []
                var changes: [Change] = []
                state.withLock { state in
                    for message in batch {
                        guard let topic = message.string(at: 0) else { continue }
                        guard Self.isStateTopic(topic) else {
                            others.append(message)
                            continue
                        }
                        guard message.frames.count == 3,
                            let header = try? FleetJSON.decode(UpdateHeader.self, from: message.frames[1])
                        else {
                            logger.warning("malformed update ignored", metadata: ["topic": "\(topic)"])
                            continue
                        }
                        state.lastHeard = .now
                        if let reason = receive(header: header, topic: topic, body: message.frames[2], state: &state, changes: &changes) {
                            resync = reason
                        }
                    }
                }
                if !changes.isEmpty { onChange(changes) }
                for message in others { onMessage(message) }
                if let resync { requestSnapshot(reason: resync.0, cause: resync.1) }
            }
        } catch {
            logger.error("replica update stream stopped", metadata: ["error": "\(error)"])
        }
    }

    /// Applies or buffers one update; returns a reason when a resync is needed.
    static func isStateTopic(_ topic: String) -> Bool {
        topic.hasPrefix(BusTopic.agentPrefix) || topic.hasPrefix(BusTopic.requestPrefix) || topic.hasPrefix(BusTopic.alertPrefix)
            || topic.hasPrefix(BusTopic.keyPrefix) || topic.hasPrefix(BusTopic.credentialPrefix) || topic == BusTopic.hugz
    }

    private func receive(
        header: UpdateHeader, topic: String, body: [UInt8], state: inout State, changes: inout [Change]
    ) -> (String, ResyncCause)? {
        switch state.phase {
        case .idle:
            return nil
        case .syncing:
            guard header.op != .hugz else { return nil }
            state.pending.append(Pending(header: header, topic: topic, body: body))
            if state.pending.count > Self.maxPending {
                return ("too many updates while waiting for the snapshot", .overflow)
            }
            return nil
        case .synced:
            guard header.epoch == state.epoch else { return ("registry epoch changed to \(header.epoch)", .epoch) }
            if header.op == .hugz {
                guard header.seq > state.seq else { return nil }
                Self.countGap(missed: header.seq - state.seq, in: &state)
                return ("missed updates \(state.seq + 1)...\(header.seq)", .gap)
            }
            if header.seq <= state.seq { return nil }  // already have it
            guard header.seq == state.seq + 1 else {
                Self.countGap(missed: header.seq - state.seq - 1, in: &state)
                return ("gap: expected \(state.seq + 1), got \(header.seq)", .gap)
            }
            if let change = apply(header: header, topic: topic, body: body, state: &state) { changes.append(change) }
            return nil
        }
    }

    /// One break in the sequence, `missed` updates wide (those dropped on the way here).
    private static func countGap(missed: UInt64, in state: inout State) {
        state.gaps += 1
        state.missedUpdates += missed
        gapsCounter.increment()
        missedUpdatesCounter.increment(by: Int64(clamping: missed))
    }

    private func apply(header: UpdateHeader, topic: String, body: [UInt8], state: inout State) -> Change? {
        state.seq = header.seq
        if topic.hasPrefix(BusTopic.keyPrefix) {
            guard header.op == .upsert, let key = try? FleetJSON.decode(APIKeyRecord.self, from: body) else { return nil }
            state.keys[key.id] = key
            state.keysByDigest[key.secretSHA256] = key.id
            return .key(key, seq: header.seq)
        }
        if topic.hasPrefix(BusTopic.credentialPrefix) {
            guard header.op == .upsert, let credential = try? FleetJSON.decode(AgentCredential.self, from: body) else { return nil }
            state.credentials[credential.agentId] = credential
            return .credential(credential, seq: header.seq)
        }
        if topic.hasPrefix(BusTopic.alertPrefix) {
            let id = String(topic.dropFirst(BusTopic.alertPrefix.count))
            switch header.op {
            case .upsert:
                guard let alert = try? FleetJSON.decode(AlertRecord.self, from: body) else { return nil }
                state.alerts[alert.id] = alert
                return .alert(alert, seq: header.seq)
            case .delete:
                state.alerts.removeValue(forKey: id)
            case .hugz:
                break
            }
            return nil
        }
        let isRequest = topic.hasPrefix(BusTopic.requestPrefix)
        let id = String(topic.dropFirst(isRequest ? BusTopic.requestPrefix.count : BusTopic.agentPrefix.count))
        switch (header.op, isRequest) {
        case (.upsert, false):
            guard let record = try? FleetJSON.decode(AgentRecord.self, from: body) else {
                logger.warning("undecodable agent record ignored", metadata: ["agent": "\(id)"])
                return nil
            }
            state.records[record.id] = record
            return .agent(record, seq: header.seq)
        case (.upsert, true):
            guard let record = try? FleetJSON.decode(RequestRecord.self, from: body) else {
                logger.warning("undecodable request record ignored", metadata: ["request": "\(id)"])
                return nil
            }
            state.requests[record.id] = record
            return .request(record, seq: header.seq)
        case (.delete, false):
            state.records.removeValue(forKey: id)
        case (.delete, true):
            state.requests.removeValue(forKey: id)
        case (.hugz, _):
            break
        }
        return nil
    }

    private func receiveSnapshots() async {
        do {
            for await batch in try dealer.receiver() {
                for message in batch {
                    handleSnapshotChunk(message)
                }
            }
        } catch {
            logger.error("replica snapshot stream stopped", metadata: ["error": "\(error)"])
        }
    }

    private func handleSnapshotChunk(_ message: ZMQMessage) {
        guard message.frames.count == 3, message.string(at: 0) == BusTopic.snapshot,
            let header = try? FleetJSON.decode(SnapshotHeader.self, from: message.frames[1]),
            let chunk = try? FleetJSON.decode(SnapshotChunk.self, from: message.frames[2])
        else {
            logger.warning("malformed snapshot chunk ignored")
            return
        }
        var resync: String?
        var epochChange: (String, String?)?
        var changes: [Change] = []
        state.withLock { state in
            guard case .syncing(let nonce, _, var received) = state.phase, nonce == header.nonce else {
                return  // an answer to a request we already gave up on
            }
            received.agents.append(contentsOf: chunk.agents)
            received.requests.append(contentsOf: chunk.requests)
            received.alerts.append(contentsOf: chunk.alerts)
            received.keys.append(contentsOf: chunk.keys)
            received.credentials.append(contentsOf: chunk.credentials)
            guard header.last else {
                // Progress: the deadline is for the next chunk.
                state.phase = .syncing(nonce: nonce, since: .now, received: received)
                return
            }
            let previousEpoch = state.epoch
            state.records = Dictionary(received.agents.map { ($0.id, $0) }, uniquingKeysWith: { _, new in new })
            state.requests = Dictionary(received.requests.map { ($0.id, $0) }, uniquingKeysWith: { _, new in new })
            state.alerts = Dictionary(received.alerts.map { ($0.id, $0) }, uniquingKeysWith: { _, new in new })
            state.keys = Dictionary(received.keys.map { ($0.id, $0) }, uniquingKeysWith: { _, new in new })
            state.keysByDigest = Dictionary(received.keys.map { ($0.secretSHA256, $0.id) }, uniquingKeysWith: { _, new in new })
            state.credentials = Dictionary(received.credentials.map { ($0.agentId, $0) }, uniquingKeysWith: { _, new in new })
            changes = [.resynced(epoch: header.epoch, seq: header.seq)] + received.requests.map { .request($0, seq: header.seq) }
                + received.credentials.map { .credential($0, seq: header.seq) }
            state.seq = header.seq
            state.epoch = header.epoch
            state.phase = .synced
            state.everSynced = true
            state.snapshotTimeout = Self.snapshotTimeout
            state.lastHeard = .now
            let pending = state.pending
            state.pending = []
            for update in pending where update.header.epoch == header.epoch && update.header.seq > state.seq {
                guard update.header.seq == state.seq + 1 else {
                    Self.countGap(missed: update.header.seq - state.seq - 1, in: &state)
                    resync = "gap after snapshot: expected \(state.seq + 1), got \(update.header.seq)"
                    break
                }
                if let change = apply(header: update.header, topic: update.topic, body: update.body, state: &state) {
                    changes.append(change)
                }
            }
            if previousEpoch != header.epoch && previousEpoch != nil {
                epochChange = (header.epoch, previousEpoch)
            }
            logger.info(
                "replica synced",
                metadata: ["seq": "\(state.seq)", "epoch": "\(header.epoch)", "agents": "\(state.records.count)"]
            )
        }
        if !changes.isEmpty { onChange(changes) }
        if let resync {
            requestSnapshot(reason: resync, cause: .gap)
        } else if let (epoch, previous) = epochChange {
            onEpochChange(epoch, previous)
        }
    }

    private func watchdog() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(250))
            let overdue = state.withLock { state -> Duration? in
                guard case .syncing(_, let since, _) = state.phase, ContinuousClock.now - since > state.snapshotTimeout else { return nil }
                let waited = state.snapshotTimeout
                state.snapshotTimeout = min(waited * 2, Self.maxSnapshotTimeout)
                return waited
            }
            if let overdue { requestSnapshot(reason: "snapshot timed out (no chunk for \(overdue))", cause: .timeout) }
        }
    }

    /// Starts (or restarts) the Clone handshake: buffer updates, ask for a snapshot.
    private func requestSnapshot(reason: String, cause: ResyncCause) {
        let nonce = UUID().uuidString
        let count = state.withLock { state -> Int in
            state.phase = .syncing(nonce: nonce, since: .now, received: SnapshotChunk(agents: [], requests: []))
            state.pending = []
            state.snapshots += 1
            return state.snapshots
        }
        if count > 1 {
            Self.resyncsCounter(cause: cause).increment()
            logger.info("replica resync", metadata: ["reason": "\(reason)"])
        }
        do {
            // trySend: if the registry is unreachable the watchdog asks again; never pile up waits.
            _ = try dealer.trySend(ZMQMessage(strings: [BusTopic.snapshot, nonce]))
        } catch {
            logger.warning("snapshot request not sent", metadata: ["error": "\(error)"])
        }
    }

}
