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
import ZeroMQ

/// The registry role: owns the fleet state, decides liveness, and replicates the state to
/// every gateway (zguide "Clone" server). It binds every bus endpoint; gateways and
/// workers connect, so adding either needs no change here.
public final class RegistryService: Service, Sendable {
    /// The endpoints actually bound (real ports when `*` was asked for).
    public let boundEndpoints: BusEndpoints
    public let epoch: String

    private let settings: RegistrySettings
    private let logger: Logger
    private let events: ZMQSocket
    private let clone: CloneServer
    private let streamer: Streamer
    /// File chunks from the workers, for the store (`blobs`).
    private let blobs: ZMQSocket
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
    private let core: Mutex<Core>
    /// The SQLite store and its write-behind queue; nil when running in memory only.
    private let store: RegistryStore?
    private let writer: StoreWriter?
    private let startedAt = ContinuousClock.now
    private let metrics = RegistryMetrics()
    private let webhooks: WebhookSender
    /// Everything to publish, in order, from whichever task made it to the one publishing
    /// task, which makes request changes durable first (Outbox says why).
    private let outbox = Outbox<Outgoing>()

    private enum Outgoing: Sendable {
        /// A state change (Clone update) with its sequence number.
        case update(seq: UInt64, StateChange)
        /// A command for one gateway (not part of the replicated state).
        case command(gatewayId: String, GatewayCommand)
        /// The Clone HUGZ beat. It travels the outbox like the updates so it can never
        /// overtake them: a beat carrying seq N published while updates up to N still wait
        /// in the outbox made every replica see "missed updates" and pull a full snapshot,
        /// once a second per gateway under steady load (perf: 22% of the registry's CPU went
        /// to snapshot chunks; bench/RESULTS.md).
        case hugz(seq: UInt64)
    }

    /// One change to the replicated state.
    enum StateChange: Sendable {
        case agent(AgentRecord)
        case agentDeleted(String)
        case request(RequestRecord)
        case requestDeleted(String)
        case alert(AlertRecord)
        case alertDeleted(String)
        case key(APIKeyRecord)
        case credential(AgentCredential)
    }

    private struct Core {
        var table = AgentTable()
        var requests: RequestTable
        var peers = PeerTable()
        var alertEngine = AlertEngine(rules: [])
        /// Firing and recently resolved alerts (what the replicas list).
        var alerts: [String: AlertRecord] = [:]
        /// Agents' credentials and operators' keys.
        var access: AccessTable
        /// Sequence number of the last change (Clone rule 1), over agents and requests.
        var seq: UInt64 = 0
        let tokens: ReplyTokens
    }

    public init(context: ZMQContext, settings: RegistrySettings, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        self.epoch = String(UUID().uuidString.prefix(8)).lowercased()
        let tokens = settings.replySecret.map { ReplyTokens(secret: $0) } ?? ReplyTokens()
        if let path = settings.storePath {
            let store = try RegistryStore(path: path)
            let agents = try store.loadAgents()
            let requests = try store.loadRequests(finishedSince: Date().addingTimeInterval(-settings.requests.retention))
            self.store = store
            self.writer = StoreWriter(
                store: store, knownStates: Dictionary(agents.map { ($0.id, $0.state) }, uniquingKeysWith: { _, new in new }),
                maxPendingRows: settings.storeMaxPendingRows, logger: logger
            )
            let alerts = try store.loadAlerts()
            let access = AccessTable(settings: settings.access, credentials: try store.loadCredentials(), keys: try store.loadKeys())
            self.core = Mutex(Core(
                table: AgentTable(loading: agents), requests: RequestTable(settings: settings.requests, loading: requests),
                alertEngine: AlertEngine(rules: settings.alerts.rules, active: alerts),
                alerts: Dictionary(alerts.map { ($0.id, $0) }, uniquingKeysWith: { _, new in new }), access: access, tokens: tokens
            ))
            logger.info("registry store loaded", metadata: ["path": "\(path)", "agents": "\(agents.count)", "requests": "\(requests.count)"])
        } else {
            self.store = nil
            self.writer = nil
            self.core = Mutex(Core(
                requests: RequestTable(settings: settings.requests), alertEngine: AlertEngine(rules: settings.alerts.rules),
                access: AccessTable(settings: settings.access), tokens: tokens
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
        self.events = try context.socket(.pull)
        try BusTuning.apply(to: events, highWaterMark: BusTuning.taskHighWaterMark)
        try security.serve(events, as: .events)
        events.setReceivesUserId(security.isEnforced)
        let eventsEndpoint = try events.bind(settings.endpoints.events)
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
        self.blobs = try context.socket(.pull)
        try BusTuning.apply(to: blobs, highWaterMark: BusTuning.jobHighWaterMark)
        try security.serve(blobs, as: .blobs)
        let blobsEndpoint = try blobs.bind(settings.endpoints.blobs)
        self.boundEndpoints = BusEndpoints(
            events: eventsEndpoint, updates: clone.boundUpdates, snapshot: clone.boundSnapshot,
            jobsIn: streamer.boundInput, jobsOut: streamer.boundOutput, blobs: blobsEndpoint
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
            group.addTask { await self.every(self.settings.hugzInterval) { await self.beat() } }
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
        core.withLock { core in
            CloneServer.State(
                seq: core.seq, agents: Array(core.table.records.values), requests: Array(core.requests.requests.values),
                alerts: Array(core.alerts.values), keys: Array(core.access.keys.values),
                credentials: Array(core.access.credentials.values)
            )
        }
    }

    /// Numbers a change and queues it for publishing. Called with the lock held, which is
    /// what keeps the outbox in sequence order.
    private func commit(_ change: StateChange, in core: inout Core) {
        core.seq += 1
        // The store writer first: once the publisher can see a change, the writer holds it, so
        // the flush the publisher runs before publishing a request change includes it.
        if let writer {
            switch change {
            case .agent(let record): writer.agent(record, now: Date())
            case .agentDeleted(let id): writer.agentDeleted(id)
            case .request(let record): writer.request(record)
            case .requestDeleted(let id): writer.requestDeleted(id)
            case .alert(let record): writer.alert(record)
            case .alertDeleted(let id): writer.alertDeleted(id)
            case .key(let record): writer.key(record)
            case .credential(let record): writer.credential(record)
            }
        }
        outbox.append(.update(seq: core.seq, change))
    }

    // MARK: History (answers to gateways' queries)

    private func answer(_ kind: String, _ body: [UInt8]) async -> Result<[UInt8], QueryError> {
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
            for await batch in try blobs.receiver(maxBatch: BusTuning.jobReceiveBatch, maxPendingBatches: BusTuning.jobPendingBatches) {
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
            let finished = core.withLock { $0.requests.requests[attempt.requestId].map { $0.state.isFinal } ?? true }
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
        core.withLock { core in
            finish(.init(requestId: header.requestId, agentId: header.agentId, ok: ok, result: result, error: error), now: Date(), in: &core)
        }
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
            for await batch in try events.receiver() {
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
                        let event = try BusEvent(message: message)
                        kinds[event.kind, default: 0] += 1
                        decoded.append(event)
                    } catch {
                        metrics.malformedEvents.increment()
                        logger.warning("bus event refused", metadata: ["error": "\(error)"])
                    }
                }
                metrics.events(kinds)
                core.withLock { core in
                    for event in decoded {
                        if core.peers.heard(event, at: instant) {
                            logPeer(event)
                        }
                        if let close = Self.supersededSession(by: event, in: core.table) {
                            logger.warning("duplicate agent id: closing the older session", metadata: [
                                "agent": "\(close.command.agentId)", "gateway": "\(close.gatewayId)",
                                "session": "\(close.command.sessionId)",
                            ])
                            outbox.append(.command(gatewayId: close.gatewayId, .closeSession(close.command)))
                        }
                        switch event {
                        case .sessionOpened(let opened):
                            open(opened, event: event, now: now, in: &core)
                        case .agentApprove(let action):
                            approve(action, now: now, in: &core)
                        case .agentRevoke(let action):
                            revoke(action, now: now, in: &core)
                        case .keyCreated(let key):
                            if let created = core.access.create(key) {
                                logger.notice("key created", metadata: ["key": "\(created.id)", "name": "\(created.name)", "role": "\(created.role.rawValue)", "tenant": "\(created.tenant ?? "*")"])
                                commit(.key(created), in: &core)
                            } else {
                                logger.warning("key refused (id taken or invalid)", metadata: ["key": "\(key.id)"])
                            }
                        case .keyRevoked(let revoke):
                            if let revoked = core.access.revokeKey(revoke.keyId, now: now) {
                                logger.notice("key revoked", metadata: ["key": "\(revoked.id)", "name": "\(revoked.name)", "by": "\(revoke.by)"])
                                commit(.key(revoked), in: &core)
                            }
                        case .audit(let entry):
                            writer?.audit(entry)
                        case .requestCreated(let created):
                            create(created, now: now, in: &core)
                        case .requestResult(let result):
                            finish(result, now: now, in: &core)
                        case .samples(let replay):
                            // History only: the store's key (agent, seq, time) drops samples it
                            // already has, so a replay that is sent twice is counted once.
                            if let writer, core.table.records[replay.agentId]?.sessionId == replay.sessionId {
                                for sample in replay.metrics { writer.metrics(sample, agentId: replay.agentId) }
                            }
                        case .agentDelete(let delete):
                            // A connected agent would only come back at its next heartbeat.
                            // (A revoked agent's credential stays: deleting it must not let it enroll again.)
                            let record = core.table.records[delete.agentId]
                            let connected = record?.state == .online || (record?.state == .pending && record?.gatewayId != nil)
                            if !connected, core.table.remove(delete.agentId) {
                                logger.info("agent deleted", metadata: ["agent": "\(delete.agentId)"])
                                commit(.agentDeleted(delete.agentId), in: &core)
                            }
                        default:
                            let changed = core.table.apply(event, now: now)
                            for record in changed {
                                logTransition(record, cause: event)
                                commit(.agent(record), in: &core)
                            }
                            // History: every snapshot that was accepted.
                            if let writer, let record = changed.last, case .heartbeat(let beat) = event {
                                writer.metrics(beat.metrics, agentId: record.id)
                            }
                        }
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
            if let writer, items.contains(where: { if case .update(_, .request) = $0 { true } else { false } }) {
                await writer.flush()
            }
            for outgoing in items { await publish(outgoing) }
        }
    }

    private func publish(_ outgoing: Outgoing) async {
        do {
            switch outgoing {
            case .update(let seq, let change):
                switch change {
                case .agent(let record): try await clone.publish(seq: seq, record: record)
                case .agentDeleted(let id): try await clone.publishDelete(seq: seq, topic: BusTopic.agentPrefix + id)
                case .request(let record): try await clone.publish(seq: seq, request: record)
                case .requestDeleted(let id): try await clone.publishDelete(seq: seq, topic: BusTopic.requestPrefix + id)
                case .alert(let record): try await clone.publish(seq: seq, alert: record)
                case .alertDeleted(let id): try await clone.publishDelete(seq: seq, topic: BusTopic.alertPrefix + id)
                case .key(let record): try await clone.publish(seq: seq, key: record)
                case .credential(let record): try await clone.publish(seq: seq, credential: record)
                }
            case .command(let gatewayId, let command):
                try await clone.publishCommand(command, to: gatewayId)
            case .hugz(let seq):
                try await clone.publishHugz(seq: seq)
            }
        } catch {
            logger.error("not published", metadata: ["error": "\(error)"])
        }
    }

    /// Duplicate agent ids (zguide has no name for it; the seed deadlocked on it): when an
    /// agent id opens a session while another of its sessions is live, the newest wins and
    /// the older is told to close. A heartbeat from a session already superseded means the
    /// close was lost on the way (PUB is lossy), so it is sent again.
    static func supersededSession(by event: BusEvent, in table: AgentTable) -> (gatewayId: String, command: GatewayCommand.CloseSession)? {
        switch event {
        case .heartbeat(let beat) where table.records[beat.agentId]?.state == .revoked:
            // A revoked agent's session that is still up: its close was lost on the way.
            return (beat.gatewayId, .init(
                sessionId: beat.sessionId, agentId: beat.agentId, code: FleetCloseCode.forbidden,
                reason: "revoked: agent \(beat.agentId)'s credential was revoked"
            ))
        case .sessionOpened(let opened):
            guard let record = table.records[opened.agent.id], record.state == .online,
                let oldSession = record.sessionId, let oldGateway = record.gatewayId, oldSession != opened.sessionId
            else { return nil }
            return (oldGateway, .init(
                sessionId: oldSession, agentId: opened.agent.id, code: FleetCloseCode.superseded,
                reason: "superseded: agent id \(opened.agent.id) connected again on gateway \(opened.gatewayId)"
            ))
        case .heartbeat(let beat):
            guard let record = table.records[beat.agentId], let current = record.sessionId, current != beat.sessionId else {
                return nil
            }
            return (beat.gatewayId, .init(
                sessionId: beat.sessionId, agentId: beat.agentId, code: FleetCloseCode.superseded,
                reason: "superseded: agent id \(beat.agentId) has a newer session"
            ))
        default:
            return nil
        }
    }

    // MARK: Sessions and credentials

    /// A session a gateway announces: admitted (its credential matches, or this session
    /// enrolls the agent) or refused and closed, before it changes any state.
    private func open(_ opened: BusEvent.SessionOpened, event: BusEvent, now: Date, in core: inout Core) {
        let credential: AgentCredential?
        switch core.access.admit(opened, now: now) {
        case .open:
            credential = nil
        case .admitted(let admitted, let issued):
            credential = admitted
            if issued {
                logger.notice("agent enrolled", metadata: [
                    "agent": "\(opened.agent.id)", "tenant": "\(admitted.tenant)", "token": "\(admitted.enrolledWith)",
                    "approved": "\(admitted.approved)",
                ])
                commit(.credential(admitted), in: &core)
            }
        case .refused(let reason):
            metrics.sessionsRefused.increment()
            // A host retrying a revoked credential must not fill the disk: a line per 10 s.
            refusals.refused("session", "agent session refused", metadata: ["agent": "\(opened.agent.id)", "gateway": "\(opened.gatewayId)", "reason": "\(reason)"])
            outbox.append(.command(gatewayId: opened.gatewayId, .closeSession(.init(
                sessionId: opened.sessionId, agentId: opened.agent.id, code: FleetCloseCode.forbidden, reason: "refused: \(reason)"
            ))))
            return
        }
        for record in core.table.apply(event, now: now, credential: credential) {
            logTransition(record, cause: event)
            commit(.agent(record), in: &core)
        }
        if let writer, let metrics = opened.metrics { writer.metrics(metrics, agentId: opened.agent.id) }
        // An agent that (re)connects gets what waited for it.
        for request in core.requests.pending(for: opened.agent.id) {
            dispatch(request.id, now: now, in: &core)
        }
    }

    private func approve(_ action: BusEvent.AgentAction, now: Date, in core: inout Core) {
        guard let credential = core.access.approve(action.agentId, by: action.by) else { return }
        logger.notice("agent approved", metadata: ["agent": "\(action.agentId)", "by": "\(action.by)"])
        commit(.credential(credential), in: &core)
        if let record = core.table.approved(action.agentId, by: action.by, now: now) {
            commit(.agent(record), in: &core)
        }
        for request in core.requests.pending(for: action.agentId) {
            dispatch(request.id, now: now, in: &core)
        }
    }

    /// Revokes an agent's credential: the record becomes `revoked`, its live session is told
    /// to close (4403; repeated if it is heard from again, see `supersededSession`), and what
    /// waited for it fails. Every gateway also closes the agent's sessions as soon as its
    /// replica sees the revoked credential, so a lost command cannot keep it connected.
    private func revoke(_ action: BusEvent.AgentAction, now: Date, in core: inout Core) {
        guard let credential = core.access.revoke(action.agentId, by: action.by, now: now) else { return }
        logger.notice("agent revoked", metadata: ["agent": "\(action.agentId)", "by": "\(action.by)"])
        commit(.credential(credential), in: &core)
        if let (record, session) = core.table.revoked(action.agentId, by: action.by, now: now) {
            commit(.agent(record), in: &core)
            if let session {
                outbox.append(.command(gatewayId: session.gatewayId, .closeSession(.init(
                    sessionId: session.sessionId, agentId: action.agentId, code: FleetCloseCode.forbidden,
                    reason: "revoked by \(action.by)"
                ))))
            }
        }
        for request in core.requests.requests.values where request.agentId == action.agentId && !request.state.isFinal {
            if let failed = core.requests.fail(request.id, reason: "agent \(action.agentId) was revoked", now: now) {
                commit(.request(failed), in: &core)
            }
        }
    }

    // MARK: Requests (DESIGN.md section 3)

    private func create(_ created: BusEvent.RequestCreated, now: Date, in core: inout Core) {
        let token = core.tokens.token(requestId: created.requestId, agentId: created.agentId)
        guard var record = core.requests.create(created, now: now) else { return }  // a repeated create
        record.replyTokenSHA256 = ReplyTokens.digest(of: token)
        let agent = core.table.records[created.agentId]
        record.tenant = agent?.tenantName
        core.requests.replace(record)
        commit(.request(record), in: &core)
        logger.info("request created", metadata: ["request": "\(record.id)", "agent": "\(record.agentId)", "kind": "\(record.kind.rawValue)"])
        let refusal: String?
        if let acceptBy = created.acceptBy, now > acceptBy {
            metrics.requestsTooLate.increment()
            refusal = "reached the registry after its gateway had stopped waiting (\(acceptBy.formatted(Date.ISO8601FormatStyle()))) and answered 503; not run"
        } else {
            refusal = switch agent?.state {
            case nil: "unknown agent \(created.agentId)"
            case .revoked: "agent \(created.agentId) was revoked"
            case .pending: "agent \(created.agentId) is waiting for approval"
            default: nil
            }
        }
        if let refusal {
            if let failed = core.requests.fail(created.requestId, reason: refusal, now: now) {
                commit(.request(failed), in: &core)
            }
            return
        }
        dispatch(created.requestId, now: now, in: &core)
    }

    /// Sends one attempt of a request to the gateway holding its agent's session, if the
    /// agent is online; otherwise the request keeps waiting.
    private func dispatch(_ requestId: String, now: Date, in core: inout Core) {
        guard let request = core.requests.requests[requestId], !request.state.isFinal,
            let agent = core.table.records[request.agentId], agent.state == .online,
            let gatewayId = agent.gatewayId, let sessionId = agent.sessionId,
            let record = core.requests.dispatched(requestId, now: now)
        else { return }
        commit(.request(record), in: &core)
        let token = core.tokens.token(requestId: record.id, agentId: record.agentId)
        let frame = MasterMessage.Callback(
            requestId: record.id, kind: record.kind, args: record.args, replyPath: "/v1/callbacks/\(record.id)", replyToken: token
        )
        outbox.append(.command(gatewayId: gatewayId, .callback(.init(sessionId: sessionId, agentId: record.agentId, frame: frame))))
    }

    private func finish(_ result: BusEvent.RequestResult, now: Date, in core: inout Core) {
        guard let (record, duplicate) = core.requests.complete(result, now: now) else {
            logger.notice("result for an unknown request, or naming another agent, ignored", metadata: [
                "request": "\(result.requestId)", "agent": "\(result.agentId)",
            ])
            return
        }
        commit(.request(record), in: &core)
        if duplicate {
            metrics.duplicateReplies.increment()
            logger.notice("duplicate reply ignored", metadata: ["request": "\(record.id)", "count": "\(record.duplicateReplies)"])
        } else {
            metrics.finished(record)
            logger.info("request \(record.state.rawValue)", metadata: [
                "request": "\(record.id)", "agent": "\(record.agentId)", "error": "\(record.error ?? "")",
            ])
        }
    }

    private func sweepRequests() {
        if writer?.heldEvents(within: settings.peerTimeout) == true { return }  // silence we caused (StoreWriter)
        let now = Date()
        core.withLock { core in
            let table = core.table
            let expiry = core.requests.expire(now: now) { agentId in table.records[agentId]?.state == .online }
            for record in expiry.failed {
                metrics.finished(record)
                logger.warning("request failed", metadata: ["request": "\(record.id)", "error": "\(record.error ?? "")"])
                commit(.request(record), in: &core)
            }
            for record in expiry.retry {
                logger.notice("request re-sent", metadata: ["request": "\(record.id)", "attempt": "\(record.attempts + 1)"])
                dispatch(record.id, now: now, in: &core)
            }
            for id in core.requests.prune(now: now) {
                commit(.requestDeleted(id), in: &core)
            }
        }
    }

    /// Alerts: evaluate the rules, publish what fired or resolved, notify the webhooks, and
    /// forget resolved alerts past their retention.
    private func evaluateAlerts() {
        let now = Date()
        let changed = core.withLock { core -> [AlertRecord] in
            var changes = core.alertEngine.evaluate(Array(core.table.records.values), now: now)
            for index in changes.indices {
                changes[index].tenant = core.table.records[changes[index].agentId]?.tenantName ?? core.alerts[changes[index].id]?.tenant
            }
            for alert in changes {
                core.alerts[alert.id] = alert
                commit(.alert(alert), in: &core)
            }
            let expired = core.alerts.values.filter {
                $0.state == .resolved && ($0.resolvedAt.map { now.timeIntervalSince($0) > settings.alerts.retention } ?? false)
            }
            for alert in expired {
                core.alerts.removeValue(forKey: alert.id)
                commit(.alertDeleted(alert.id), in: &core)
            }
            return changes
        }
        for alert in changed {
            logger.notice("alert \(alert.state.rawValue)", metadata: ["alert": "\(alert.id)", "message": "\(alert.message)"])
            Counter(label: "fleet_registry_alerts_total", dimensions: [("rule", alert.rule), ("state", alert.state.rawValue)]).increment()
            webhooks.enqueue(alert)
        }
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

    private func beat() async {
        // Under the core lock, like every update's yield: the outbox then holds the beat
        // after every update it counts.
        core.withLock { core in outbox.append(.hugz(seq: core.seq)) }
    }

    private func sweepAgents() {
        if writer?.heldEvents(within: settings.peerTimeout) == true { return }  // silence we caused (StoreWriter)
        let timeout = settings.heartbeatTimeout.inSeconds
        core.withLock { core in
            for record in core.table.sweep(now: Date(), timeout: timeout) {
                logTransition(record, cause: nil)
                commit(.agent(record), in: &core)
            }
        }
    }

    private func sweepPeers() {
        if writer?.heldEvents(within: settings.peerTimeout) == true { return }  // silence we caused (StoreWriter)
        core.withLock { core in
            var lost = core.peers.expire(now: .now, timeout: settings.peerTimeout)
            // After a restart the table may name gateways this run never heard from: once
            // they have had a peer timeout to show up, their sessions are gone too.
            if ContinuousClock.now - startedAt > settings.peerTimeout {
                let silent = core.table.gatewaysWithSessions.subtracting(core.peers.gateways.keys)
                lost.gateways.append(contentsOf: silent.sorted())
            }
            for gateway in lost.gateways {
                logger.warning("gateway lost", metadata: ["gateway": "\(gateway)"])
                for record in core.table.gatewayLost(gateway, now: Date()) {
                    logTransition(record, cause: nil)
                    commit(.agent(record), in: &core)
                }
            }
            for worker in lost.workers {
                logger.warning("callback-worker lost", metadata: ["worker": "\(worker)"])
            }
        }
    }

    private func every(_ interval: Duration, immediately: Bool = false, _ body: @Sendable () async -> Void) async {
        if immediately { await body() }
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            await body()
        }
    }

    // MARK: Logging

    private func logTransition(_ record: AgentRecord, cause: BusEvent?) {
        if case .heartbeat = cause, record.stateReason != "heartbeat resumed" { return }
        logger.info(
            "agent \(record.state.rawValue)",
            metadata: ["agent": "\(record.id)", "host": "\(record.hostname)", "reason": "\(record.stateReason ?? "")"]
        )
    }

    private func logPeer(_ event: BusEvent) {
        switch event {
        case .gatewayHeartbeat(let beat): logger.info("gateway joined", metadata: ["gateway": "\(beat.gatewayId)"])
        case .sessionOpened(let opened): logger.info("gateway joined", metadata: ["gateway": "\(opened.gatewayId)"])
        case .workerHeartbeat(let beat): logger.info("callback-worker joined", metadata: ["worker": "\(beat.workerId)"])
        default: break
        }
    }

}
