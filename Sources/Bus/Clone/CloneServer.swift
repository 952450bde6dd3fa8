import FleetProtocol
import Logging
import Synchronization
import ZeroMQ

/// The server half of the zguide "Clone" pattern (reliable pub-sub of a key-value state).
///
/// Rules it follows, so replicas can rely on them:
/// 1. Every change is published on PUB as `[agent.<id>][header{seq,epoch,op}][record]` (the
///    header binary, the record opaque bytes the owner encoded once), with
///    `seq` increasing by exactly one per change within an `epoch` (one registry run).
/// 2. A snapshot request on ROUTER gets the whole state as chunks, all stamped with the seq of
///    the last change the state includes; a replica applies buffered updates above it.
/// 3. Every `hugzInterval` a `[hugz][header{seq,epoch}]` beat goes out, so a replica that
///    missed the last update (PUB drops at the HWM) notices the gap without waiting for
///    the next change, and knows the publisher is alive.
///
/// Beside the sequenced state, the same PUB carries the coalesced metrics feed
/// (``MetricsFeed``, topic `metrics`) and gateway commands (`gw.<id>.`).
///
/// The owner keeps the state and the sequence; this type only moves bytes. Publish calls
/// must come from one task in sequence order (the registry's event loop).
public final class CloneServer: Sendable {
    private let publisher: ZMQSocket
    private let router: ZMQSocket
    private let logger: Logger
    /// Queries being answered now (at most `maxConcurrentQueries`).
    private let queriesInFlight = Atomic<Int>(0)
    public let epoch: String
    public let boundUpdates: String
    public let boundSnapshot: String
    /// Records per snapshot chunk at most (a chunk is also cut at `SnapshotChunking.maxBytes`).
    static let chunkSize = 500

    /// - Parameters:
    ///   - security: with CURVE, both sockets admit gateways only (ZAP domains `updates` and
    ///     `snapshot`): reply tokens travel on the PUB, file contents on the ROUTER.
    ///   - updatesHighWaterMark: the PUB's queue per subscriber (tests make it small to force drops).
    public init(
        context: BusContext, updates: String, snapshot: String, security: BusSecurity, epoch: String,
        updatesHighWaterMark: Int32 = BusTuning.updateHighWaterMark, logger: Logger
    ) throws {
        self.publisher = try context.zmq.socket(.pub)
        self.router = try context.zmq.socket(.router)
        self.epoch = epoch
        self.logger = logger
        try BusTuning.apply(to: publisher, highWaterMark: updatesHighWaterMark)
        try BusTuning.apply(to: router, highWaterMark: BusTuning.taskHighWaterMark)
        // A replica that went away mid-snapshot: fail the send (and stop) instead of queueing.
        try router.setRouterMandatory(true)
        try security.serve(publisher, as: .updates)
        try security.serve(router, as: .snapshot)
        self.boundUpdates = try publisher.bind(updates)
        self.boundSnapshot = try router.bind(snapshot)
    }

    /// Publishes one change whose body the owner encoded once (the store gets the same
    /// bytes): `[topic][binary header{seq, epoch, op}][body]`. PUB never blocks: at the HWM
    /// libzmq drops for that subscriber, and the replica's gap detection recovers.
    public func publish(seq: UInt64, topic: String, op: UpdateHeader.Operation, body: [UInt8]) async throws {
        let header = UpdateHeader(seq: seq, epoch: epoch, op: op)
        try await publisher.send([Array(topic.utf8), header.binary, body])
    }

    /// Encodes and publishes an agent record (tools and tests; the registry encodes each
    /// change once itself and calls ``publish(seq:topic:op:body:)``).
    public func publish(seq: UInt64, record: AgentRecord) async throws {
        try await publish(seq: seq, topic: BusTopic.agentPrefix + record.id, op: .upsert, body: try FleetJSON.encode(record))
    }

    /// Publishes one batch of the metrics feed (``MetricsFeed``); not sequenced with the state.
    public func publishMetrics(feedSeq: UInt64, entries: ArraySlice<MetricsFeed.Entry>) async throws {
        let header = MetricsFeed.Header(epoch: epoch, seq: feedSeq, count: entries.count)
        try await publisher.send([Array(MetricsFeed.topic.utf8), MetricsFeed.encode(header: header), MetricsFeed.encode(entries: entries)])
    }

    /// Publishes a command on topic `gw.<gatewayId>`, on the same PUB socket (commands are
    /// not part of the replicated state and carry no sequence number).
    public func publishCommand(_ command: GatewayCommand, to gatewayId: String) async throws {
        try await publisher.send([
            Array(BusTopic.gateway(gatewayId).utf8), Array(command.kind.utf8), try command.encodedBody(),
        ])
    }

    /// Sends one HUGZ beat carrying the current sequence.
    public func publishHugz(seq: UInt64) async throws {
        let header = UpdateHeader(seq: seq, epoch: epoch, op: .hugz)
        try await publisher.send([Array(BusTopic.hugz.utf8), header.binary, []])
    }

    /// A consistent copy of the replicated state and the seq of the last change it includes.
    public struct State: Sendable {
        public var seq: UInt64
        public var agents: [AgentRecord]
        public var requests: [RequestRecord]
        public var alerts: [AlertRecord]
        public var keys: [APIKeyRecord]
        public var credentials: [AgentCredential]
        /// Each agent's latest snapshot (sent as metrics-feed entries after the records).
        public var metrics: [MetricsFeed.Entry]
        public init(
            seq: UInt64, agents: [AgentRecord], requests: [RequestRecord], alerts: [AlertRecord] = [], keys: [APIKeyRecord] = [],
            credentials: [AgentCredential] = [], metrics: [MetricsFeed.Entry] = []
        ) {
            self.seq = seq
            self.metrics = metrics
            self.agents = agents
            self.requests = requests
            self.alerts = alerts
            self.keys = keys
            self.credentials = credentials
        }
    }

    /// Queries answered at once, at most; one more is refused as `busy` at once rather than
    /// queued, so a flood of /readyz calls (unauthenticated) costs a bounded amount of memory
    /// and never delays a snapshot, and the caller learns it straight away.
    public static let maxConcurrentQueries = 64

    /// Answers snapshot requests (Clone) and history queries on the ROUTER until cancelled.
    /// Queries run concurrently so a slow one never delays a snapshot. They run in a
    /// *discarding* task group: a plain task group keeps every finished child's result until
    /// someone calls `next()`, and this loop never does, so each query a gateway ever asked
    /// (one per /readyz call) stayed in memory for the registry's lifetime.
    public func serve(
        snapshot state: @escaping @Sendable () -> State,
        query: @escaping @Sendable (_ kind: String, _ body: [UInt8]) async -> Result<[UInt8], QueryError> = { _, _ in
            .failure(QueryError(code: "unknown_query", message: "no queries here"))
        }
    ) async {
        do {
            try await withThrowingDiscardingTaskGroup { group in
                for await batch in try router.receiver() {
                    for request in batch {
                        if request.string(at: 1) == RegistryQuery.frame, request.string(at: 3) == RegistryQuery.GatewayBeat.kind {
                            // A gateway's liveness beat: answered here, at once, and never refused
                            // as busy (a flood of /readyz queries must not make a gateway look lost).
                            await answerQuery(request, query)
                        } else if request.string(at: 1) == RegistryQuery.frame {
                            guard queriesInFlight.add(1, ordering: .relaxed).newValue <= Self.maxConcurrentQueries else {
                                queriesInFlight.subtract(1, ordering: .relaxed)
                                await refuseBusy(request)
                                continue
                            }
                            group.addTask {
                                await self.answerQuery(request, query)
                                self.queriesInFlight.subtract(1, ordering: .relaxed)
                            }
                        } else {
                            await answer(request, state: state)
                        }
                    }
                }
            }
        } catch {
            logger.error("snapshot service stopped", metadata: ["error": "\(error)"])
        }
    }

    /// Over `maxConcurrentQueries`: the answer is an error, sent now.
    private func refuseBusy(_ request: ZMQMessage) async {
        guard request.frames.count == 5 else { return }
        let error = QueryError(code: "busy", message: "the registry is answering \(Self.maxConcurrentQueries) queries already; retry")
        do {
            try await router.send([request.frames[0], Array(RegistryQuery.frame.utf8), request.frames[2], Array("error".utf8), try FleetJSON.encode(error)])
        } catch {
            logger.warning("query answer not delivered", metadata: ["error": "\(error)"])
        }
    }

    private func answerQuery(_ request: ZMQMessage, _ query: (String, [UInt8]) async -> Result<[UInt8], QueryError>) async {
        // [identity][query][nonce][kind][body]
        guard request.frames.count == 5, let kind = request.string(at: 3) else {
            logger.warning("malformed query ignored", metadata: ["frames": "\(request.frames.count)"])
            return
        }
        let reply: [[UInt8]]
        switch await query(kind, request.frames[4]) {
        case .success(let body): reply = [Array("ok".utf8), body]
        case .failure(let error): reply = [Array("error".utf8), (try? FleetJSON.encode(error)) ?? []]
        }
        do {
            try await router.send([request.frames[0], Array(RegistryQuery.frame.utf8), request.frames[2]] + reply)
        } catch {
            logger.warning("query answer not delivered", metadata: ["error": "\(error)"])
        }
    }

    private func answer(_ request: ZMQMessage, state: () -> State) async {
        // [identity][snapshot][nonce]
        guard request.frames.count == 3, request.string(at: 1) == BusTopic.snapshot,
            let nonce = request.string(at: 2)
        else {
            logger.warning("malformed snapshot request ignored", metadata: ["frames": "\(request.frames.count)"])
            return
        }
        let identity = request.frames[0]
        let snapshot = state()
        do {
            var chunks = stride(from: 0, to: snapshot.agents.count, by: Self.chunkSize).map {
                SnapshotChunk(agents: Array(snapshot.agents[$0..<min($0 + Self.chunkSize, snapshot.agents.count)]), requests: [])
            }
            chunks += stride(from: 0, to: snapshot.requests.count, by: Self.chunkSize).map {
                SnapshotChunk(agents: [], requests: Array(snapshot.requests[$0..<min($0 + Self.chunkSize, snapshot.requests.count)]))
            }
            if !snapshot.alerts.isEmpty { chunks.append(SnapshotChunk(agents: [], requests: [], alerts: snapshot.alerts)) }
            chunks += stride(from: 0, to: snapshot.keys.count, by: Self.chunkSize).map {
                SnapshotChunk(agents: [], requests: [], keys: Array(snapshot.keys[$0..<min($0 + Self.chunkSize, snapshot.keys.count)]))
            }
            chunks += stride(from: 0, to: snapshot.credentials.count, by: Self.chunkSize).map {
                SnapshotChunk(
                    agents: [], requests: [],
                    credentials: Array(snapshot.credentials[$0..<min($0 + Self.chunkSize, snapshot.credentials.count)])
                )
            }
            if chunks.isEmpty { chunks = [SnapshotChunk(agents: [], requests: [])] }
            // Encoded one chunk at a time (the first goes out before the rest are made), each
            // split further if over SnapshotChunking.maxBytes.
            // Then the metrics, as feed entries in a fourth frame beside an empty chunk.
            let metrics = MetricsFeed.batches(snapshot.metrics)
            for (index, chunk) in chunks.enumerated() {
                let pieces = try SnapshotChunking.encode(chunk)
                for (part, piece) in pieces.enumerated() {
                    let last = metrics.isEmpty && index == chunks.count - 1 && part == pieces.count - 1
                    let header = SnapshotHeader(seq: snapshot.seq, epoch: epoch, nonce: nonce, last: last)
                    try await router.send([identity, Array(BusTopic.snapshot.utf8), try FleetJSON.encode(header), piece])
                }
            }
            let empty = try FleetJSON.encode(SnapshotChunk(agents: [], requests: []))
            for (index, batch) in metrics.enumerated() {
                let header = SnapshotHeader(seq: snapshot.seq, epoch: epoch, nonce: nonce, last: index == metrics.count - 1)
                try await router.send([
                    identity, Array(BusTopic.snapshot.utf8), try FleetJSON.encode(header), empty, MetricsFeed.encode(entries: batch),
                ])
            }
            logger.debug("snapshot sent", metadata: [
                "seq": "\(snapshot.seq)", "agents": "\(snapshot.agents.count)", "requests": "\(snapshot.requests.count)",
            ])
        } catch {
            logger.warning("snapshot not delivered", metadata: ["error": "\(error)"])
        }
    }

    public var statistics: BusStatistics { BusStatistics(publisher.statistics) }
}
