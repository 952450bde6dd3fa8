#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import FleetProtocol
import FleetSupport
import Logging
import Metrics

/// The registry's decisions as a value: the fleet state (agents, requests, peers, alerts,
/// access) and every rule that changes it, with no sockets, store or clock of its own.
/// Each input (a bus event, a sweep, a beat) returns the ``RegistryEffect``s to carry out:
/// numbered state changes (Clone rule 1: one sequence over every key space), gateway
/// commands, metrics-feed batches, history rows, alert notifications. ``RegistryService``
/// owns the sockets and the store and runs this under one lock; the tests drive it directly
/// (Tests/FleetTests/RegistryCoreTests).
///
/// Logs and counters are written from here: they are observations, not decisions.
public struct RegistryCore: Sendable {
    public struct Settings: Sendable {
        public var heartbeatTimeout: Duration
        public var peerTimeout: Duration
        /// Resolved alerts stay listed this long, in seconds.
        public var alertRetention: Double
        /// The history's resolution (`store.history_interval`, seconds): at most one row per
        /// agent per interval, 0 = every heartbeat. See ``historyDue(_:now:)``.
        public var historyInterval: Double
        public init(
            heartbeatTimeout: Duration = .seconds(600), peerTimeout: Duration = .seconds(5), alertRetention: Double = 3600,
            historyInterval: Double = 0
        ) {
            self.heartbeatTimeout = heartbeatTimeout
            self.peerTimeout = peerTimeout
            self.alertRetention = alertRetention
            self.historyInterval = historyInterval
        }
    }

    public private(set) var table: AgentTable
    public private(set) var requests: RequestTable
    var peers = PeerTable()
    var alertEngine: AlertEngine
    /// Firing and recently resolved alerts (what the replicas list).
    public private(set) var alerts: [String: AlertRecord]
    /// Agents' credentials and operators' keys.
    public private(set) var access: AccessTable
    /// Sequence number of the last change (Clone rule 1), over every key space.
    public private(set) var seq: UInt64 = 0
    let tokens: ReplyTokens
    let settings: Settings
    /// When this run started: gateways the stored table names but this run never heard from
    /// are given a peer timeout to show up.
    let startedAt: ContinuousClock.Instant
    /// The latest snapshot of each agent heard from since the last metrics batch (coalesced:
    /// an agent beating twice in an interval is sent once).
    private var dirtyMetrics: [String: MetricsFeed.Entry] = [:]
    private var feedSeq: UInt64 = 0
    /// When each agent's last live snapshot went to the history (the resolution's clock).
    private var historyKeptAt: [String: Date] = [:]
    private var effects: [RegistryEffect] = []
    private let logger: Logger
    private let metrics = RegistryMetrics()
    private let refusals: RefusalLog

    public init(
        settings: Settings, requests: RequestTable, table: AgentTable = AgentTable(), alertEngine: AlertEngine = AlertEngine(rules: []),
        alerts: [AlertRecord] = [], access: AccessTable, tokens: ReplyTokens, startedAt: ContinuousClock.Instant = .now, logger: Logger
    ) {
        self.settings = settings
        self.table = table
        self.requests = requests
        self.alertEngine = alertEngine
        self.alerts = Dictionary(alerts.map { ($0.id, $0) }, uniquingKeysWith: { _, new in new })
        self.access = access
        self.tokens = tokens
        self.startedAt = startedAt
        self.logger = logger
        self.refusals = RefusalLog(logger: logger)
    }

    /// What the last inputs decided, in order; emptied by taking.
    mutating func takeEffects() -> [RegistryEffect] {
        defer { effects.removeAll(keepingCapacity: true) }
        return effects
    }

    // MARK: Inputs

    /// Applies one bus event (already authorized for its sender's role).
    public mutating func handle(_ event: BusEvent, now: Date, instant: ContinuousClock.Instant) -> [RegistryEffect] {
        if peers.heard(event, at: instant) { logPeer(event) }
        if let close = Self.supersededSession(by: event, in: table) {
            logger.warning("duplicate agent id: closing the older session", metadata: [
                "agent": "\(close.command.agentId)", "gateway": "\(close.gatewayId)", "session": "\(close.command.sessionId)",
            ])
            effects.append(.command(gatewayId: close.gatewayId, .closeSession(close.command)))
        }
        switch event {
        case .heartbeat(let beat):
            heartbeat(beat, now: now)
        case .sessionOpened(let opened):
            open(opened, event: event, now: now)
        case .sessionClosed:
            for record in table.apply(event, now: now) {
                logTransition(record, cause: event)
                commit(.agent(record))
            }
        case .agentApprove(let action):
            approve(action, now: now)
        case .agentRevoke(let action):
            revoke(action, now: now)
        case .keyCreated(let key):
            if let created = access.create(key) {
                logger.notice("key created", metadata: [
                    "key": "\(created.id)", "name": "\(created.name)", "role": "\(created.role.rawValue)", "tenant": "\(created.tenant ?? "*")",
                ])
                commit(.key(created))
            } else {
                logger.warning("key refused (id taken or invalid)", metadata: ["key": "\(key.id)"])
            }
        case .keyRevoked(let revoke):
            if let revoked = access.revokeKey(revoke.keyId, now: now) {
                logger.notice("key revoked", metadata: ["key": "\(revoked.id)", "name": "\(revoked.name)", "by": "\(revoke.by)"])
                commit(.key(revoked))
            }
        case .audit(let entry):
            effects.append(.audit(entry))
        case .requestCreated(let created):
            create(created, now: now)
        case .requestResult(let result):
            finish(result, now: now)
        case .samples(let replay):
            // History only: the store's key (agent, seq, time) drops samples it already has,
            // so a replay that is sent twice is counted once.
            if table.records[replay.agentId]?.sessionId == replay.sessionId {
                for sample in replay.metrics {
                    if let raw = try? RawSnapshot(sample) { effects.append(.history(agentId: replay.agentId, raw)) }
                }
            }
        case .agentDelete(let delete):
            // A connected agent would only come back at its next heartbeat.
            // (A revoked agent's credential stays: deleting it must not let it enroll again.)
            let record = table.records[delete.agentId]
            let connected = record?.state == .online || (record?.state == .pending && record?.gatewayId != nil)
            if !connected, table.remove(delete.agentId) {
                dirtyMetrics.removeValue(forKey: delete.agentId)
                historyKeptAt.removeValue(forKey: delete.agentId)
                logger.info("agent deleted", metadata: ["agent": "\(delete.agentId)"])
                commit(.agentDeleted(delete.agentId))
            }
        case .gatewayHeartbeat, .workerHeartbeat:
            break
        }
        return takeEffects()
    }

    /// Whether a live heartbeat of `agentId` goes to the history now, and if so notes it.
    ///
    /// The history keeps one snapshot per agent per `historyInterval` (the latest snapshot is
    /// always applied, replicated and shown; only the stored rows are thinned): at the default
    /// heartbeat of 300 s every beat is kept, while a fleet told to beat every second does not
    /// write 12 MB/s (10,000 agents, 1.2 KB each: a terabyte a day) unless asked to. A tenth of
    /// the interval is slack, so beats that come exactly at the resolution (jitter either way)
    /// are all kept rather than every other one. Replayed samples (``BusEvent/samples``) fill
    /// gaps and are always kept.
    private mutating func historyDue(_ agentId: String, now: Date) -> Bool {
        let interval = settings.historyInterval
        guard interval > 0 else { return true }
        if let last = historyKeptAt[agentId], now.timeIntervalSince(last) < interval * 0.9, now >= last { return false }
        historyKeptAt[agentId] = now
        return true
    }

    /// The Clone HUGZ beat: after every change it counts.
    public mutating func beat() -> [RegistryEffect] {
        effects.append(.hugz(seq: seq))
        return takeEffects()
    }

    /// The metrics feed's batches of what changed since the last call (none if nothing did).
    public mutating func flushMetrics() -> [RegistryEffect] {
        guard !dirtyMetrics.isEmpty else { return [] }
        let entries = Array(dirtyMetrics.values)
        dirtyMetrics.removeAll(keepingCapacity: true)
        for batch in MetricsFeed.batches(entries) {
            feedSeq += 1
            effects.append(.metrics(feedSeq: feedSeq, entries: batch))
        }
        return takeEffects()
    }

    /// Agents silent past `heartbeat.timeout` become offline.
    public mutating func sweepAgents(now: Date) -> [RegistryEffect] {
        for record in table.sweep(now: now, timeout: settings.heartbeatTimeout.inSeconds) {
            logTransition(record, cause: nil)
            commit(.agent(record))
        }
        return takeEffects()
    }

    /// Gateways and workers silent past the peer timeout are gone; a lost gateway's agents
    /// are disconnected.
    public mutating func sweepPeers(instant: ContinuousClock.Instant, now: Date) -> [RegistryEffect] {
        var lost = peers.expire(now: instant, timeout: settings.peerTimeout)
        // After a restart the table may name gateways this run never heard from: once
        // they have had a peer timeout to show up, their sessions are gone too.
        if instant - startedAt > settings.peerTimeout {
            let silent = table.gatewaysWithSessions.subtracting(peers.gateways.keys)
            lost.gateways.append(contentsOf: silent.sorted())
        }
        for gateway in lost.gateways {
            logger.warning("gateway lost", metadata: ["gateway": "\(gateway)"])
            metrics.gatewaysLost.increment()
            for record in table.gatewayLost(gateway, now: now) {
                logTransition(record, cause: nil)
                commit(.agent(record))
            }
        }
        for worker in lost.workers {
            logger.warning("callback-worker lost", metadata: ["worker": "\(worker)"])
        }
        return takeEffects()
    }

    /// Request deadlines: re-send, fail what ran out of attempts, forget what is past retention.
    public mutating func sweepRequests(now: Date) -> [RegistryEffect] {
        let records = table.records
        let expiry = requests.expire(now: now) { agentId in records[agentId]?.state == .online }
        for record in expiry.failed {
            metrics.finished(record)
            logger.warning("request failed", metadata: ["request": "\(record.id)", "error": "\(record.error ?? "")"])
            commit(.request(record))
        }
        for record in expiry.retry {
            logger.notice("request re-sent", metadata: ["request": "\(record.id)", "attempt": "\(record.attempts + 1)"])
            dispatch(record.id, now: now)
        }
        for id in requests.prune(now: now) {
            commit(.requestDeleted(id))
        }
        return takeEffects()
    }

    /// Alerts: evaluate the rules, publish what fired or resolved, and forget resolved alerts
    /// past their retention.
    public mutating func evaluateAlerts(now: Date) -> [RegistryEffect] {
        let latest = table.metrics
        var changes = alertEngine.evaluate(Array(table.records.values), vitals: { latest[$0]?.vitals }, now: now)
        for index in changes.indices {
            changes[index].tenant = table.records[changes[index].agentId]?.tenantName ?? alerts[changes[index].id]?.tenant
        }
        for alert in changes {
            alerts[alert.id] = alert
            commit(.alert(alert))
        }
        let expired = alerts.values.filter {
            $0.state == .resolved && ($0.resolvedAt.map { now.timeIntervalSince($0) > settings.alertRetention } ?? false)
        }
        for alert in expired {
            alerts.removeValue(forKey: alert.id)
            commit(.alertDeleted(alert.id))
        }
        for alert in changes {
            logger.notice("alert \(alert.state.rawValue)", metadata: ["alert": "\(alert.id)", "message": "\(alert.message)"])
            Counter(label: "fleet_registry_alerts_total", dimensions: [("rule", alert.rule), ("state", alert.state.rawValue)]).increment()
            effects.append(.alert(alert))
        }
        return takeEffects()
    }

    /// A logs upload finished (its content is stored) or failed: the request's result.
    public mutating func finishUpload(_ result: BusEvent.RequestResult, now: Date) -> [RegistryEffect] {
        finish(result, now: now)
        return takeEffects()
    }

    /// Whether a request is finished (or unknown): an upload for it is not needed.
    public func isFinished(requestId: String) -> Bool {
        requests.requests[requestId].map { $0.state.isFinal } ?? true
    }

    /// A consistent copy of the state and the sequence of its last change (Clone rule 2).
    func snapshot() -> CloneState {
        CloneState(
            seq: seq, agents: Array(table.records.values), requests: Array(requests.requests.values), alerts: Array(alerts.values),
            keys: Array(access.keys.values), credentials: Array(access.credentials.values),
            metrics: table.metrics.map { MetricsFeed.Entry(agentId: $0.key, at: $0.value.at, snapshot: $0.value.snapshot) }
        )
    }

    /// What the snapshot holds (the Bus's `CloneServer.State`, without importing it here).
    struct CloneState: Sendable {
        var seq: UInt64
        var agents: [AgentRecord]
        var requests: [RequestRecord]
        var alerts: [AlertRecord]
        var keys: [APIKeyRecord]
        var credentials: [AgentCredential]
        var metrics: [MetricsFeed.Entry]
    }

    // MARK: Changes

    /// Numbers a change, encodes it once, and queues it (Clone rule 1).
    private mutating func commit(_ record: ReplicatedRecord) {
        seq += 1
        let body = (try? record.encodedBody()) ?? []
        effects.append(.change(RegistryChange(seq: seq, body: body, record: record)))
    }

    // MARK: Sessions and credentials

    private mutating func heartbeat(_ beat: BusEvent.SessionHeartbeat, now: Date) {
        switch table.heartbeat(beat, now: now) {
        case .ignored:
            return
        case .accepted(let changed):
            if let changed {
                logTransition(changed, cause: .heartbeat(beat))
                commit(.agent(changed))
            }
            // Metrics apart from state: history at its resolution, the feed coalesced (issue 13).
            if historyDue(beat.agentId, now: now) { effects.append(.history(agentId: beat.agentId, beat.metrics)) }
            dirtyMetrics[beat.agentId] = MetricsFeed.Entry(agentId: beat.agentId, at: now, snapshot: beat.metrics)
        }
    }

    /// A session a gateway announces: admitted (its credential matches, or this session
    /// enrolls the agent) or refused and closed, before it changes any state.
    private mutating func open(_ opened: BusEvent.SessionOpened, event: BusEvent, now: Date) {
        let credential: AgentCredential?
        switch access.admit(opened, now: now) {
        case .open:
            credential = nil
        case .admitted(let admitted, let issued):
            credential = admitted
            if issued {
                logger.notice("agent enrolled", metadata: [
                    "agent": "\(opened.agent.id)", "tenant": "\(admitted.tenant)", "token": "\(admitted.enrolledWith)",
                    "approved": "\(admitted.approved)",
                ])
                commit(.credential(admitted))
            }
        case .refused(let reason):
            metrics.sessionsRefused.increment()
            // A host retrying a revoked credential must not fill the disk: a line per 10 s.
            refusals.refused("session", "agent session refused", metadata: [
                "agent": "\(opened.agent.id)", "gateway": "\(opened.gatewayId)", "reason": "\(reason)",
            ])
            effects.append(.command(gatewayId: opened.gatewayId, .closeSession(.init(
                sessionId: opened.sessionId, agentId: opened.agent.id, code: FleetCloseCode.forbidden, reason: "refused: \(reason)"
            ))))
            return
        }
        for record in table.apply(event, now: now, credential: credential) {
            logTransition(record, cause: event)
            commit(.agent(record))
        }
        if opened.metrics != nil, let latest = table.metrics[opened.agent.id] {
            // A session's first snapshot is always kept: it starts the history's clock again.
            historyKeptAt[opened.agent.id] = now
            effects.append(.history(agentId: opened.agent.id, latest.snapshot))
            // A new session's first snapshot goes out at once, right behind its state (sessions
            // open rarely; an agent shown online without metrics for an interval looks broken).
            dirtyMetrics.removeValue(forKey: opened.agent.id)
            feedSeq += 1
            effects.append(.metrics(feedSeq: feedSeq, entries: [MetricsFeed.Entry(agentId: opened.agent.id, at: now, snapshot: latest.snapshot)][...]))
        }
        // An agent that (re)connects gets what waited for it.
        for request in requests.pending(for: opened.agent.id) {
            dispatch(request.id, now: now)
        }
    }

    private mutating func approve(_ action: BusEvent.AgentAction, now: Date) {
        guard let credential = access.approve(action.agentId, by: action.by) else { return }
        logger.notice("agent approved", metadata: ["agent": "\(action.agentId)", "by": "\(action.by)"])
        commit(.credential(credential))
        if let record = table.approved(action.agentId, by: action.by, now: now) {
            commit(.agent(record))
        }
        for request in requests.pending(for: action.agentId) {
            dispatch(request.id, now: now)
        }
    }

    /// Revokes an agent's credential: the record becomes `revoked`, its live session is told
    /// to close (4403; repeated if it is heard from again, see `supersededSession`), and what
    /// waited for it fails. Every gateway also closes the agent's sessions as soon as its
    /// replica sees the revoked credential, so a lost command cannot keep it connected.
    private mutating func revoke(_ action: BusEvent.AgentAction, now: Date) {
        guard let credential = access.revoke(action.agentId, by: action.by, now: now) else { return }
        logger.notice("agent revoked", metadata: ["agent": "\(action.agentId)", "by": "\(action.by)"])
        commit(.credential(credential))
        if let (record, session) = table.revoked(action.agentId, by: action.by, now: now) {
            commit(.agent(record))
            if let session {
                effects.append(.command(gatewayId: session.gatewayId, .closeSession(.init(
                    sessionId: session.sessionId, agentId: action.agentId, code: FleetCloseCode.forbidden, reason: "revoked by \(action.by)"
                ))))
            }
        }
        for request in requests.requests.values where request.agentId == action.agentId && !request.state.isFinal {
            if let failed = requests.fail(request.id, reason: "agent \(action.agentId) was revoked", now: now) {
                commit(.request(failed))
            }
        }
    }

    // MARK: Requests (DESIGN.md section 3)

    private mutating func create(_ created: BusEvent.RequestCreated, now: Date) {
        let token = tokens.token(requestId: created.requestId, agentId: created.agentId)
        guard var record = requests.create(created, now: now) else { return }  // a repeated create
        record.replyTokenSHA256 = ReplyTokens.digest(of: token)
        let agent = table.records[created.agentId]
        record.tenant = agent?.tenantName
        requests.replace(record)
        commit(.request(record))
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
            if let failed = requests.fail(created.requestId, reason: refusal, now: now) {
                commit(.request(failed))
            }
            return
        }
        dispatch(created.requestId, now: now)
    }

    /// Sends one attempt of a request to the gateway holding its agent's session, if the
    /// agent is online; otherwise the request keeps waiting.
    private mutating func dispatch(_ requestId: String, now: Date) {
        guard let request = requests.requests[requestId], !request.state.isFinal,
            let agent = table.records[request.agentId], agent.state == .online,
            let gatewayId = agent.gatewayId, let sessionId = agent.sessionId,
            let record = requests.dispatched(requestId, now: now)
        else { return }
        commit(.request(record))
        let token = tokens.token(requestId: record.id, agentId: record.agentId)
        let frame = MasterMessage.Callback(
            requestId: record.id, kind: record.kind, args: record.args, replyPath: "/v1/callbacks/\(record.id)", replyToken: token
        )
        effects.append(.command(gatewayId: gatewayId, .callback(.init(sessionId: sessionId, agentId: record.agentId, frame: frame))))
    }

    private mutating func finish(_ result: BusEvent.RequestResult, now: Date) {
        guard let (record, duplicate) = requests.complete(result, now: now) else {
            logger.notice("result for an unknown request, or naming another agent, ignored", metadata: [
                "request": "\(result.requestId)", "agent": "\(result.agentId)",
            ])
            return
        }
        commit(.request(record))
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
