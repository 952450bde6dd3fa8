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
/// A thin driver: the sockets (SUB for updates and the metrics feed, DEALER for snapshots),
/// decoding (outside any lock), and the callbacks. The rules live in ``CloneSync``, a value
/// tested without sockets; PUB is lossy by design, and those rules make the copy exact anyway.
/// Messages on other subscribed topics (a gateway's `gw.<id>.` commands) are handed on as
/// frames, undecoded: the gateway demultiplexes its own commands.
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
        /// Metrics-feed batches that never arrived (freshness lost, no resync needed).
        public var missedMetricBatches: UInt64 = 0
    }

    /// A change applied to the replica, for whoever follows it (`?wait=` on a request, the
    /// SSE feed). `seq` is the registry's sequence number of the update.
    public enum Change: Sendable {
        case agent(AgentRecord, seq: UInt64)
        /// A new snapshot for an agent whose state did not change (the metrics feed); `seq`
        /// is the state sequence it was applied at.
        case metrics(AgentRecord, MetricsEntry, seq: UInt64)
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

    private let subscriber: ZMQSocket
    private let dealer: ZMQSocket
    private let state = Mutex(CloneSync(noncePrefix: String(UUID().uuidString.prefix(8))))
    private let logger: Logger
    private let onMessage: @Sendable ([[UInt8]]) -> Void
    private let onEpochChange: @Sendable (_ epoch: String, _ previous: String?) -> Void
    private let onChange: @Sendable ([Change]) -> Void
    /// Holds the update loop while closed (tests: a gateway that stops reading its SUB).
    let updateGate = UpdateGate()

    /// `fleet_replica_resyncs_total{cause}`: snapshots asked for after the first one, by
    /// cause (`gap`, `epoch`, `timeout`, `overflow`).
    static func resyncsCounter(cause: CloneSync.ResyncCause) -> Counter {
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
    /// `fleet_replica_metrics_batches_missed_total`: metrics-feed batches lost on the way.
    static let missedMetricsCounter = Counter(label: "fleet_replica_metrics_batches_missed_total")

    /// - Parameters:
    ///   - updatesHighWaterMark: the SUB's receive HWM (tests make it small to force drops).
    ///   - extraSubscriptions: other topic prefixes to receive on the same SUB (a gateway's
    ///     `gw.<id>` commands); those messages go to `onMessage`, as frames.
    ///   - onEpochChange: called when a snapshot from a new registry run has been applied
    ///     (not for the first one), so the owner can re-announce what the new run lost.
    public init(
        context: BusContext, updates: String, snapshot: String, security: BusSecurity, extraSubscriptions: [String] = [],
        updatesHighWaterMark: Int32 = BusTuning.updateHighWaterMark, logger: Logger,
        onMessage: @escaping @Sendable ([[UInt8]]) -> Void = { _ in },
        onEpochChange: @escaping @Sendable (_ epoch: String, _ previous: String?) -> Void = { _, _ in },
        onChange: @escaping @Sendable ([Change]) -> Void = { _ in }
    ) throws {
        self.onChange = onChange
        self.subscriber = try context.zmq.socket(.sub)
        self.dealer = try context.zmq.socket(.dealer)
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
        try subscriber.subscribe(MetricsFeed.topic)
        for topic in extraSubscriptions { try subscriber.subscribe(topic) }
        // With CURVE both verify the registry's key: nobody else can publish to this replica.
        try security.connect(subscriber)
        try security.connect(dealer)
        try subscriber.connect(updates)
        try dealer.connect(snapshot)
        // Exported from the start (at 0), so a dashboard's rate() has a series before the first gap.
        Self.gapsCounter.increment(by: 0)
        Self.missedUpdatesCounter.increment(by: 0)
        Self.missedMetricsCounter.increment(by: 0)
    }

    // MARK: Reads (served to the REST API)

    /// All agents, ordered by id, with their latest metrics (decoded here, outside the lock,
    /// each snapshot once).
    public func agents() -> [AgentRecord] {
        let pairs = state.withLock { sync in sync.records.values.map { ($0, sync.metrics[$0.id]) } }
        return pairs.map { record, entry in entry?.merged(into: record) ?? record }.sorted { $0.id < $1.id }
    }

    /// All agents, ordered by id, without decoding any snapshot (their `lastSeen` does include
    /// the latest heartbeat): for filtering a large fleet before ``withMetrics(_:)`` on a page.
    public func agentStates() -> [AgentRecord] {
        let pairs = state.withLock { sync in sync.records.values.map { ($0, sync.metrics[$0.id]?.at) } }
        return pairs.map { record, at in
            guard let at, at > record.lastSeen else { return record }
            var seen = record
            seen.lastSeen = at
            return seen
        }.sorted { $0.id < $1.id }
    }

    /// `records` with their latest metrics (each snapshot decoded once, then cached).
    public func withMetrics(_ records: [AgentRecord]) -> [AgentRecord] {
        let entries = state.withLock { sync in records.map { sync.metrics[$0.id] } }
        return zip(records, entries).map { record, entry in entry?.merged(into: record) ?? record }
    }

    public func agent(id: String) -> AgentRecord? {
        let (record, entry) = state.withLock { sync in (sync.records[id], sync.metrics[id]) }
        guard let record else { return nil }
        return entry?.merged(into: record) ?? record
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
        state.withLock { sync in sync.keysByDigest[digest].flatMap { sync.keys[$0] } }
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
        state.withLock { sync in
            Status(
                synced: sync.isSynced, seq: sync.seq, epoch: sync.epoch,
                secondsSinceHeard: sync.lastHeard.map { (ContinuousClock.now - $0).inSeconds },
                resyncs: max(0, sync.snapshots - 1), agents: sync.records.count, hasSynced: sync.everSynced,
                gaps: sync.gaps, missedUpdates: sync.missedUpdates, missedMetricBatches: sync.missedMetricBatches
            )
        }
    }

    // MARK: Running

    /// Runs the replica until cancelled.
    public func run() async {
        let first = state.withLock { $0.requestSnapshot(reason: "start", cause: .start, now: .now) }
        perform([first])
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.receiveUpdates() }
            group.addTask { await self.receiveSnapshots() }
            group.addTask { await self.watchdog() }
            await group.next()
            group.cancelAll()
        }
    }

    /// What arrived on the SUB, decoded (outside the lock).
    private enum Inbound {
        case update(CloneSync.Update)
        case metrics(MetricsFeed.Header, [MetricsFeed.Entry])
    }

    private func receiveUpdates() async {
        do {
            for await batch in try subscriber.receiver() {
                await updateGate.pass()
                var inbound: [Inbound] = []
                var others: [[[UInt8]]] = []
                inbound.reserveCapacity(batch.count)
                for message in batch {
                    guard let topic = message.string(at: 0) else { continue }
                    if let decoded = decode(topic: topic, message.frames) {
                        inbound.append(decoded)
                    } else if !Self.isStateTopic(topic) && topic != MetricsFeed.topic {
                        others.append(message.frames)
                    }
                }
                var changes: [Change] = []
                var effects: [CloneSync.Effect] = []
                let (gaps, missed, missedMetrics) = state.withLock { sync -> (Int, UInt64, UInt64) in
                    let before = (sync.gaps, sync.missedUpdates, sync.missedMetricBatches)
                    let now = ContinuousClock.now
                    for item in inbound {
                        switch item {
                        case .update(let update):
                            let result = sync.receive(update, now: now)
                            changes += result.changes
                            effects += result.effects
                        case .metrics(let header, let entries):
                            changes += sync.receive(metrics: header, entries: entries, now: now)
                        }
                    }
                    return (sync.gaps - before.0, sync.missedUpdates - before.1, sync.missedMetricBatches - before.2)
                }
                count(gaps: gaps, missed: missed, missedMetrics: missedMetrics)
                if !changes.isEmpty { onChange(changes) }
                for frames in others { onMessage(frames) }
                perform(effects)
            }
        } catch {
            logger.error("replica update stream stopped", metadata: ["error": "\(error)"])
        }
    }

    /// An update or a metrics batch, decoded; nil for other topics and for malformed messages
    /// (logged).
    private func decode(topic: String, _ frames: [[UInt8]]) -> Inbound? {
        if topic == MetricsFeed.topic {
            do throws(ProtocolError) {
                guard frames.count == 3 else { throw .malformed("metrics batch with \(frames.count) frames") }
                return .metrics(try MetricsFeed.decodeHeader(frames[1]), try MetricsFeed.decode(entries: frames[2]))
            } catch {
                logger.warning("malformed metrics batch ignored", metadata: ["error": "\(error)"])
                return nil
            }
        }
        guard Self.isStateTopic(topic) else { return nil }
        guard frames.count == 3, let header = try? UpdateHeader(binary: frames[1]) else {
            logger.warning("malformed update ignored", metadata: ["topic": "\(topic)"])
            return nil
        }
        return .update(CloneSync.Update(header: header, body: Self.body(topic: topic, op: header.op, frames[2])))
    }

    /// Decodes an update's body by its topic (JSON records: state changes are rare; the
    /// heartbeat's bytes ride the metrics feed).
    static func body(topic: String, op: UpdateHeader.Operation, _ bytes: [UInt8]) -> CloneSync.Body {
        if op == .hugz { return .hugz }
        return ReplicatedRecord(topic: topic, op: op, body: bytes).map { .record($0) } ?? .undecodable(topic: topic)
    }

    static func isStateTopic(_ topic: String) -> Bool {
        topic.hasPrefix(BusTopic.agentPrefix) || topic.hasPrefix(BusTopic.requestPrefix) || topic.hasPrefix(BusTopic.alertPrefix)
            || topic.hasPrefix(BusTopic.keyPrefix) || topic.hasPrefix(BusTopic.credentialPrefix) || topic == BusTopic.hugz
    }

    private func count(gaps: Int, missed: UInt64, missedMetrics: UInt64) {
        if gaps > 0 { Self.gapsCounter.increment(by: Int64(gaps)) }
        if missed > 0 { Self.missedUpdatesCounter.increment(by: Int64(clamping: missed)) }
        if missedMetrics > 0 { Self.missedMetricsCounter.increment(by: Int64(clamping: missedMetrics)) }
    }

    private func receiveSnapshots() async {
        do {
            for await batch in try dealer.receiver() {
                for message in batch {
                    handleSnapshotChunk(message.frames)
                }
            }
        } catch {
            logger.error("replica snapshot stream stopped", metadata: ["error": "\(error)"])
        }
    }

    private func handleSnapshotChunk(_ frames: [[UInt8]]) {
        guard frames.count == 3 || frames.count == 4, String(decoding: frames[0], as: UTF8.self) == BusTopic.snapshot,
            let header = try? FleetJSON.decode(SnapshotHeader.self, from: frames[1]),
            let chunk = try? FleetJSON.decode(SnapshotChunk.self, from: frames[2])
        else {
            logger.warning("malformed snapshot chunk ignored")
            return
        }
        var metrics: [MetricsFeed.Entry] = []
        if frames.count == 4 {
            do throws(ProtocolError) {
                metrics = try MetricsFeed.decode(entries: frames[3])
            } catch {
                logger.warning("malformed snapshot metrics ignored", metadata: ["error": "\(error)"])
            }
        }
        let (result, gaps, missed) = state.withLock { sync in
            let before = (sync.gaps, sync.missedUpdates)
            let result = sync.receive(chunk: header, chunk, metrics: metrics, now: .now)
            return (result, sync.gaps - before.0, sync.missedUpdates - before.1)
        }
        count(gaps: gaps, missed: missed, missedMetrics: 0)
        if !result.changes.isEmpty { onChange(result.changes) }
        perform(result.effects)
    }

    private func watchdog() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(250))
            if let effect = state.withLock({ $0.tick(now: .now) }) { perform([effect]) }
        }
    }

    /// Carries out what the state machine decided (sockets, logs, callbacks).
    private func perform(_ effects: [CloneSync.Effect]) {
        for effect in effects {
            switch effect {
            case .requestSnapshot(let nonce, let reason, let cause):
                if cause != .start {
                    Self.resyncsCounter(cause: cause).increment()
                    logger.info("replica resync", metadata: ["reason": "\(reason)"])
                }
                do {
                    // trySend: if the registry is unreachable the watchdog asks again; never pile up waits.
                    _ = try dealer.trySend(ZMQMessage(strings: [BusTopic.snapshot, nonce]))
                } catch {
                    logger.warning("snapshot request not sent", metadata: ["error": "\(error)"])
                }
            case .synced(let seq, let epoch, let agents):
                logger.info("replica synced", metadata: ["seq": "\(seq)", "epoch": "\(epoch)", "agents": "\(agents)"])
            case .epochChanged(let epoch, let previous):
                onEpochChange(epoch, previous)
            case .undecodable(let topic):
                logger.warning("undecodable update ignored", metadata: ["topic": "\(topic)"])
            }
        }
    }
}
