#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Bus
import FleetProtocol
import FleetSupport
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// The registry role: owns the fleet state, decides liveness, and replicates the state to
/// every gateway (zguide "Clone" server). It binds every bus endpoint; gateways and
/// workers connect, so adding either needs no change here.
public final class RegistryService: Service, Sendable {
    /// The endpoints actually bound (real ports when `*` was asked for).
    public let boundEndpoints: BusEndpoints
    public let epoch: String

    private let settings: RegistrySettings
    private let logger: Logger
    private let events: BusReceiver
    private let clone: CloneServer
    private let streamer: Streamer
    /// File chunks from the workers, for the store (`blobs`).
    private let blobs: BusReceiver
    /// Admits bus peers by key when CURVE is on (bound before every other socket).
    private let zap: ZAPHandler?
    private let handshakes: HandshakeWatch?
    private let authorization: EventAuthorization
    private let refusals: RefusalLog
    /// Final chunks whose earlier chunks (from other workers) have not all arrived yet, by
    /// upload attempt, with when each was seen (entries of attempts that never complete expire).
    private let awaitingChunks = Mutex<[UploadAttempt: (header: ContentChunkHeader, seen: Date)]>([:])

    /// One upload attempt of one request: the unit chunks are kept, settled and dropped by.
    struct UploadAttempt: Hashable, Sendable {
        var requestId: String
        var upload: String
        init(_ header: ContentChunkHeader) {
            requestId = header.requestId
            upload = header.upload ?? ""
        }
    }
    /// An upload attempt that got no chunk for this long is given up and its parts removed.
    static let uploadAttemptExpiry: TimeInterval = 3600
    /// Every decision (RegistryCore); its effects are carried out under this lock, which is
    /// what keeps the outbox in sequence order.
    private let core: Mutex<RegistryCore>
    /// The SQLite store and its write-behind queue; nil when running in memory only.
    private let store: RegistryStore?
    private let writer: StoreWriter?
    private let metrics = RegistryMetrics()
    private let webhooks: WebhookSender
    /// Everything to publish, in order, from whichever task made it to the one publishing
    /// task, which makes request changes durable first (Outbox says why).
    private let outbox = Outbox<Outgoing>()

    private enum Outgoing: Sendable {
        /// A state change (Clone update), encoded once.
        case update(RegistryChange)
        /// A command for one gateway (not part of the replicated state).
        case command(gatewayId: String, GatewayCommand)
        /// The Clone HUGZ beat. It travels the outbox like the updates so it can never
        /// overtake them: a beat carrying seq N published while updates up to N still wait
        /// in the outbox made every replica see "missed updates" and pull a full snapshot,
        /// once a second per gateway under steady load (perf: 22% of the registry's CPU went
        /// to snapshot chunks; bench/RESULTS.md).
        case hugz(seq: UInt64)
        /// A metrics-feed batch, in order with the state changes before it (so a replica
        /// knows the agent by the time its metrics arrive).
        case metrics(feedSeq: UInt64, entries: ArraySlice<MetricsFeed.Entry>)
    }

    public init(context: BusContext, settings: RegistrySettings, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        self.epoch = String(UUID().uuidString.prefix(8)).lowercased()
        let tokens = settings.replySecret.map { ReplyTokens(secret: $0) } ?? ReplyTokens()
        let coreSettings = RegistryCore.Settings(
            heartbeatTimeout: settings.heartbeatTimeout, peerTimeout: settings.peerTimeout, alertRetention: settings.alerts.retention,
            historyInterval: settings.historyInterval
        )
        if let path = settings.storePath {
            let store = try RegistryStore(path: path)
            let agents = try store.loadAgents()
            let latest = try store.loadLatestMetrics()
            let requests = try store.loadRequests(finishedSince: Date().addingTimeInterval(-settings.requests.retention))
            self.store = store
            self.writer = StoreWriter(
                store: store, knownStates: Dictionary(agents.map { ($0.id, $0.state) }, uniquingKeysWith: { _, new in new }),
                maxPendingRows: settings.storeMaxPendingRows, maxPendingBytes: settings.storeMaxPendingBytes, logger: logger
            )
            let alerts = try store.loadAlerts()
            let access = AccessTable(settings: settings.access, credentials: try store.loadCredentials(), keys: try store.loadKeys())
            self.core = Mutex(RegistryCore(
                settings: coreSettings, requests: RequestTable(settings: settings.requests, loading: requests),
                table: AgentTable(loading: agents, metrics: latest),
                alertEngine: AlertEngine(rules: settings.alerts.rules, active: alerts), alerts: alerts, access: access, tokens: tokens,
                logger: logger
            ))
            logger.info("registry store loaded", metadata: ["path": "\(path)", "agents": "\(agents.count)", "requests": "\(requests.count)"])
        } else {
            self.store = nil
            self.writer = nil
            self.core = Mutex(RegistryCore(
                settings: coreSettings, requests: RequestTable(settings: settings.requests),
                alertEngine: AlertEngine(rules: settings.alerts.rules), access: AccessTable(settings: settings.access), tokens: tokens,
                logger: logger
            ))
        }
        // The ZAP handler first: a CURVE socket bound while none is there admits any key.
        // Then every socket's failed handshakes are watched (peers without keys never reach ZAP).
        var security = settings.security
        if case .curve(var curve) = security {
            self.zap = try ZAPHandler(context: context, peers: curve.peers, logger: logger) { socket, reason in
                RegistryMetrics().authRefused(socket: socket, reason: reason.rawValue)
            }
            let handshakes = HandshakeWatch(logger: logger) { socket, reason in
                RegistryMetrics().authRefused(socket: socket, reason: reason)
            }
            curve.handshakes = handshakes
            security = .curve(curve)
            self.handshakes = handshakes
        } else {
            self.zap = nil
            self.handshakes = nil
        }
        self.authorization = EventAuthorization(enforced: security.isEnforced)
        self.refusals = RefusalLog(logger: logger)
        self.events = try BusReceiver.bind(
            settings.endpoints.events, context: context, security: security, as: .events, highWaterMark: BusTuning.eventReceiveHighWaterMark,
            receivesUserId: security.isEnforced
        )
        self.clone = try CloneServer(
            context: context, updates: settings.endpoints.updates, snapshot: settings.endpoints.snapshot,
            security: security, epoch: epoch, logger: logger
        )
        self.streamer = try Streamer(
            context: context, input: settings.endpoints.jobsIn, output: settings.endpoints.jobsOut,
            security: security, logger: logger
        )
        self.webhooks = WebhookSender(
            webhooks: settings.alerts.webhooks, store: store, retryFor: settings.alerts.retryFor, retryBase: settings.alerts.retryBase,
            retryCap: settings.alerts.retryCap, logger: logger
        )
        self.blobs = try BusReceiver.bind(
            settings.endpoints.blobs, context: context, security: security, as: .blobs, highWaterMark: BusTuning.jobHighWaterMark
        )
        self.boundEndpoints = BusEndpoints(
            events: events.endpoint, updates: clone.boundUpdates, snapshot: clone.boundSnapshot,
            jobsIn: streamer.boundInput, jobsOut: streamer.boundOutput, blobs: blobs.endpoint
        )
    }

    public func run() async throws {
        logger.info("registry running", metadata: ["epoch": "\(epoch)", "events": "\(boundEndpoints.events)"])
        await withTaskGroup(of: Void.self) { group in
            if let zap { group.addTask { await zap.run() } }
            if let handshakes { group.addTask { await handshakes.run() } }
            group.addTask { await self.consumeEvents() }
            group.addTask { await self.publishUpdates() }
            group.addTask {
                await self.clone.serve(snapshot: { self.snapshot() }, query: { kind, body in await self.answer(kind, body) })
            }
            if let writer {
                group.addTask { await writer.run() }
                group.addTask { await self.every(.seconds(3600), immediately: true) { await self.pruneHistory() } }
                group.addTask { await self.every(.seconds(600), immediately: true) { await self.expireUploads() } }
            }
            group.addTask { await self.streamer.run() }
            group.addTask { await self.consumeChunks() }
            group.addTask { await self.every(self.settings.hugzInterval) { self.decide { $0.beat() } } }
            group.addTask { await self.every(self.settings.metricsInterval) { self.decide { $0.flushMetrics() } } }
            group.addTask { await self.every(self.settings.cleanupInterval) { self.sweepAgents() } }
            group.addTask { await self.every(.milliseconds(500)) { self.sweepPeers() } }
            group.addTask { await self.every(.milliseconds(250)) { self.sweepRequests() } }
            group.addTask { await self.every(.seconds(1)) { self.refreshMetrics() } }
            if !settings.alerts.rules.isEmpty {
                group.addTask { await self.every(.milliseconds(500)) { self.evaluateAlerts() } }
                group.addTask { await self.webhooks.run() }
            }
            // Runs until graceful shutdown (SIGTERM) or cancellation, then stops every loop.
            try? await gracefulShutdown()
            group.cancelAll()
            outbox.finish()
        }
        logger.info("registry stopped")
    }

    /// A consistent copy of the state and the sequence of its last change (Clone rule 2).
    private func snapshot() -> CloneServer.State {
        let state = core.withLock { $0.snapshot() }
        return CloneServer.State(
            seq: state.seq, agents: state.agents, requests: state.requests, alerts: state.alerts, keys: state.keys,
            credentials: state.credentials, metrics: state.metrics
        )
    }

    /// Runs one input of the core and carries out its effects, under the lock.
    private func decide(_ input: (inout RegistryCore) -> [RegistryEffect]) {
        core.withLock { core in perform(input(&core)) }
    }

    /// Routes effects to the store writer and the outbox, in order. Called with the core's
    /// lock held. The writer first: once the publisher can see a change, the writer holds it,
    /// so the flush the publisher runs before publishing a request change includes it.
    private func perform(_ effects: [RegistryEffect]) {
        for effect in effects {
            switch effect {
            case .change(let change):
                writer?.change(change, now: Date())
                outbox.append(.update(change))
            case .command(let gatewayId, let command):
                outbox.append(.command(gatewayId: gatewayId, command))
            case .hugz(let seq):
                outbox.append(.hugz(seq: seq))
            case .metrics(let feedSeq, let entries):
                outbox.append(.metrics(feedSeq: feedSeq, entries: entries))
            case .history(let agentId, let snapshot):
                writer?.metrics(snapshot, agentId: agentId)
            case .audit(let entry):
                writer?.audit(entry)
            case .alert(let alert):
                webhooks.enqueue(alert)
            }
        }
    }

    // MARK: History (answers to gateways' queries)

    private func answer(_ kind: String, _ body: [UInt8]) async -> Result<[UInt8], QueryError> {
        if kind == RegistryQuery.GatewayBeat.kind {
            guard let beat = try? FleetJSON.decode(BusEvent.GatewayHeartbeat.self, from: body) else {
                return .failure(QueryError(code: "bad_request", message: "malformed gateway beat"))
            }
            // The liveness path apart from data: heard now, whatever waits on `events`.
            decide { $0.handle(.gatewayHeartbeat(beat), now: Date(), instant: .now) }
            return .success([])
        }
        if kind == RegistryQuery.Peers.kind {
            var peers = core.withLock { $0.peers.summary(now: .now) }
            peers.store = writer?.status
            return (try? FleetJSON.encode(peers)).map { .success($0) } ?? .failure(QueryError(code: "internal", message: "encoding"))
        }
        guard let store else { return .failure(QueryError(code: "unavailable", message: "this registry keeps no history (no store)")) }
        switch kind {
        case RegistryQuery.Audit.kind:
            guard let query = try? FleetJSON.decode(RegistryQuery.Audit.self, from: body) else {
                return .failure(QueryError(code: "bad_request", message: "malformed audit query"))
            }
            do {
                // What already reached the registry is in the answer, not 100 ms later.
                await writer?.flush()
                let entries = try await store.audit(tenant: query.tenant, agentId: query.agentId, since: query.since, limit: query.limit)
                return .success(try FleetJSON.encode(entries))
            } catch {
                return .failure(QueryError(code: "internal", message: "\(error)"))
            }
        case RegistryQuery.Content.kind:
            guard let query = try? FleetJSON.decode(RegistryQuery.Content.self, from: body) else {
                return .failure(QueryError(code: "bad_request", message: "malformed content query"))
            }
            do {
                guard let bytes = try await store.chunk(requestId: query.requestId, index: query.index) else {
                    return .failure(QueryError(code: "not_found", message: "no chunk \(query.index) for request \(query.requestId)"))
                }
                return .success(bytes)
            } catch {
                return .failure(QueryError(code: "internal", message: "\(error)"))
            }
        case RegistryQuery.Metrics.kind:
            guard let query = try? FleetJSON.decode(RegistryQuery.Metrics.self, from: body) else {
                return .failure(QueryError(code: "bad_request", message: "malformed metrics query"))
            }
            do {
                let snapshots = try await store.metrics(agentId: query.agentId, since: query.since, limit: query.limit)
                return .success(try FleetJSON.encode(snapshots))
            } catch {
                return .failure(QueryError(code: "internal", message: "\(error)"))
            }
        default:
            return .failure(QueryError(code: "unknown_query", message: "unknown query '\(kind)'"))
        }
    }

    // MARK: File contents (logs uploads)

    /// Writes chunks to the store as they come (one at a time: the small HWM behind this loop
    /// is what paces an upload) and completes the request once every chunk is in.
    private func consumeChunks() async {
        do {
            for await batch in try blobs.batches(maxBatch: BusTuning.jobReceiveBatch, maxPendingBatches: BusTuning.jobPendingBatches) {
                for message in batch {
                    guard message.frames.count == 3, message.string(at: 0) == ContentChunkHeader.blobKind,
                        let header = try? FleetJSON.decode(ContentChunkHeader.self, from: message.frames[1])
                    else {
                        logger.warning("malformed content chunk ignored")
                        continue
                    }
                    await store(chunk: header, bytes: message.frames[2])
                }
            }
        } catch {
            logger.error("content intake stopped", metadata: ["error": "\(error)"])
        }
    }

    /// Chunks are kept per upload attempt (`ContentChunkHeader.upload`) until the attempt is
    /// complete, then become the request's content in one transaction. An abort removes its own
    /// attempt's parts only: a second attempt for the same request, running at the same time,
    /// completes untouched.
    private func store(chunk header: ContentChunkHeader, bytes: [UInt8]) async {
        guard let store else {
            finishUpload(header, ok: false, summary: nil, error: "this registry keeps no store, so it cannot keep file contents")
            return
        }
        let attempt = UploadAttempt(header)
        do {
            if header.aborted {
                awaitingChunks.withLock { _ = $0.removeValue(forKey: attempt) }
                try await store.dropUpload(requestId: attempt.requestId, upload: attempt.upload)
                logger.notice("partial upload dropped", metadata: ["request": "\(header.requestId)", "upload": "\(attempt.upload)"])
                return
            }
            let now = Date()
            try await store.writePart(requestId: attempt.requestId, upload: attempt.upload, index: header.index, bytes: bytes, at: now)
            let final = awaitingChunks.withLock { awaiting -> ContentChunkHeader? in
                if header.final { awaiting[attempt] = (header, now) }
                return awaiting[attempt]?.header
            }
            guard let final else { return }
            let count = final.index + 1
            let finished = core.withLock { $0.isFinished(requestId: attempt.requestId) }
            if finished {
                // Another attempt completed it (or it is gone): this one's parts are not needed.
                guard try await store.partCount(requestId: attempt.requestId, upload: attempt.upload, below: count) == count else { return }
                awaitingChunks.withLock { _ = $0.removeValue(forKey: attempt) }
                try await store.dropUpload(requestId: attempt.requestId, upload: attempt.upload)
                logger.notice("upload for a finished request discarded", metadata: ["request": "\(header.requestId)"])
                return
            }
            guard try await store.settleUpload(requestId: attempt.requestId, upload: attempt.upload, count: count) else { return }
            awaitingChunks.withLock { _ = $0.removeValue(forKey: attempt) }
            let summary = ContentSummary(name: final.name, bytes: final.totalBytes ?? 0, sha256: final.sha256 ?? "", chunks: count)
            finishUpload(final, ok: true, summary: summary, error: nil)
        } catch {
            logger.error("content chunk not stored", metadata: ["request": "\(header.requestId)", "error": "\(error)"])
        }
    }

    /// Forgets upload attempts that went silent (their gateway died mid-upload, or their last
    /// parts were lost): the final chunks waiting in memory and the parts in the store.
    private func expireUploads() async {
        guard let store else { return }
        let cutoff = Date().addingTimeInterval(-Self.uploadAttemptExpiry)
        awaitingChunks.withLock { awaiting in awaiting = awaiting.filter { $0.value.seen >= cutoff } }
        do {
            let removed = try await store.expireParts(olderThan: cutoff)
            if removed > 0 { logger.notice("parts of abandoned uploads removed", metadata: ["parts": "\(removed)"]) }
        } catch {
            logger.error("abandoned upload parts not removed", metadata: ["error": "\(error)"])
        }
    }

    private func finishUpload(_ header: ContentChunkHeader, ok: Bool, summary: ContentSummary?, error: String?) {
        let result = summary.flatMap { try? FleetJSON.decode(JSONValue.self, from: FleetJSON.encode($0)) }
        decide { $0.finishUpload(.init(requestId: header.requestId, agentId: header.agentId, ok: ok, result: result, error: error), now: Date()) }
    }

    private func pruneHistory() async {
        guard let store else { return }
        do {
            let removed = try await store.prune(olderThan: Date().addingTimeInterval(-settings.metricsRetention))
            if removed > 0 { logger.info("metrics history pruned", metadata: ["rows": "\(removed)"]) }
            let audit = try await store.pruneAudit(olderThan: Date().addingTimeInterval(-settings.auditRetention))
            if audit > 0 { logger.info("audit log pruned", metadata: ["rows": "\(audit)"]) }
        } catch {
            logger.error("history prune failed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Loops

    private func consumeEvents() async {
        do {
            for await batch in try events.batches(maxPendingBatches: BusTuning.eventPendingBatches) {
                await writer?.waitForRoom()
                let now = Date()
                let instant = ContinuousClock.now
                var decoded: [BusEvent] = []
                decoded.reserveCapacity(batch.count)
                var kinds: [String: Int] = [:]
                for message in batch {
                    if let refusal = authorization.refusal(for: message) {
                        refuse(refusal)
                        continue
                    }
                    do {
                        for event in try BusEvent.all(frames: message.frames) {
                            kinds[event.kind, default: 0] += 1
                            decoded.append(event)
                        }
                    } catch {
                        metrics.malformedEvents.increment()
                        logger.warning("bus event refused", metadata: ["error": "\(error)"])
                    }
                }
                metrics.events(kinds)
                core.withLock { core in
                    for event in decoded {
                        perform(core.handle(event, now: now, instant: instant))
                    }
                }
            }
        } catch {
            logger.error("registry event intake stopped", metadata: ["error": "\(error)"])
        }
    }

    /// Counts and (rate-limited) logs an event its sender's role may not send.
    private func refuse(_ refusal: EventAuthorization.Refusal) {
        metrics.eventRefused(kind: refusal.kind, role: refusal.role)
        refusals.refused(
            "\(refusal.kind)/\(refusal.role)", "bus event refused: not allowed for the sender's role",
            metadata: ["kind": "\(refusal.kind)", "role": "\(refusal.role)", "peer": "\(refusal.userId ?? "-")"]
        )
    }

    /// Publishes what the outbox holds, a whole queue at a time; when it holds a request change,
    /// the store writer commits what it has first (group commit: one transaction for the lot).
    /// So a request is stored before any gateway can acknowledge it or any agent receive it,
    /// and a result before any client can read it; a registry killed at any moment restarts
    /// with every request a client was told about, and does not send a finished one again.
    /// One write path: while the store is failing, the writer keeps the changes and retries on
    /// its own backoff, and publishing goes on (a full disk must not stop the fleet's state).
    private func publishUpdates() async {
        while let items = await outbox.take() {
            if let writer, items.contains(where: { if case .update(let change) = $0 { change.isRequest } else { false } }) {
                await writer.flush()
            }
            for outgoing in items { await publish(outgoing) }
        }
    }

    private func publish(_ outgoing: Outgoing) async {
        do {
            switch outgoing {
            case .update(let change):
                try await clone.publish(seq: change.seq, topic: change.topic, op: change.op, body: change.body)
            case .command(let gatewayId, let command):
                try await clone.publishCommand(command, to: gatewayId)
            case .hugz(let seq):
                try await clone.publishHugz(seq: seq)
            case .metrics(let feedSeq, let entries):
                try await clone.publishMetrics(feedSeq: feedSeq, entries: entries)
            }
        } catch {
            logger.error("not published", metadata: ["error": "\(error)"])
        }
    }

    private func sweepRequests() {
        if writer?.heldEvents(within: settings.peerTimeout) == true { return }  // silence we caused (StoreWriter)
        decide { $0.sweepRequests(now: Date()) }
    }

    private func evaluateAlerts() {
        decide { $0.evaluateAlerts(now: Date()) }
    }

    private func refreshMetrics() {
        let (agents, requests, gateways, workers) = core.withLock { core in
            (
                Dictionary(grouping: core.table.records.values, by: \.state).mapValues(\.count),
                Dictionary(grouping: core.requests.requests.values, by: \.state).mapValues(\.count),
                core.peers.gateways.count, core.peers.workers.count
            )
        }
        metrics.refresh(
            agents: agents, requests: requests, gateways: gateways, workers: workers,
            sockets: [("events", events.statistics), ("updates", clone.statistics), ("blobs", blobs.statistics),
                      ("jobs_in", streamer.statistics.input), ("jobs_out", streamer.statistics.output)]
        )
    }

    private func sweepAgents() {
        if writer?.heldEvents(within: settings.peerTimeout) == true { return }  // silence we caused (StoreWriter)
        decide { $0.sweepAgents(now: Date()) }
    }

    private func sweepPeers() {
        if writer?.heldEvents(within: settings.peerTimeout) == true { return }  // silence we caused (StoreWriter)
        decide { $0.sweepPeers(instant: .now, now: Date()) }
    }

    private func every(_ interval: Duration, immediately: Bool = false, _ body: @Sendable () async -> Void) async {
        if immediately { await body() }
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            await body()
        }
    }
}
