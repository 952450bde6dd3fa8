import Bus
import CSystemShims
import FleetProtocol
import FleetSupport
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import Metrics
import NIOCore
import NIOSSL
import ServiceLifecycle

/// The gateway role: agents' WebSockets, the REST API, and a Clone replica of the fleet
/// state to answer reads locally. Stateless apart from its live sessions, so any number can
/// run behind a TCP/HTTP load balancer.
public final class GatewayService: Service, Sendable {
    public let settings: GatewaySettings
    private let logger: Logger
    private let events: EventSender
    private let heartbeats: HeartbeatOutbox
    private let replica: CloneReplica
    private let sessions = SessionTable()
    private let shutdownSignal = ShutdownSignal()
    private let waiters = ReplicaWaiters<RequestRecord>()
    private let credentialWaiters = ReplicaWaiters<AgentCredential>()
    private let keyWaiters = ReplicaWaiters<APIKeyRecord>()
    private let refusals: RefusalLog
    private let feed = EventFeed()
    private let jobs: JobSender
    private let registry: RegistryClient
    private let onListening: @Sendable (_ host: String, _ port: Int) async -> Void

    /// - Parameter onListening: called once the HTTP server is accepting, with the bound
    ///   address (the real port when `port` was 0).
    public init(
        context: BusContext, settings: GatewaySettings, logger: Logger,
        onListening: @escaping @Sendable (_ host: String, _ port: Int) async -> Void = { _, _ in }
    ) throws {
        self.settings = settings
        var tagged = logger
        tagged[metadataKey: "gateway"] = "\(settings.gatewayId)"
        self.logger = tagged
        let logger = tagged
        self.refusals = RefusalLog(logger: logger)
        self.onListening = onListening
        let events = try EventSender(
            context: context, endpoint: settings.endpoints.events, security: settings.security, logger: logger, heartbeatLane: true
        )
        self.events = events
        self.heartbeats = HeartbeatOutbox(events: events)
        self.jobs = try JobSender(context: context, endpoint: settings.endpoints.jobsIn, security: settings.security)
        self.registry = try RegistryClient(
            context: context, endpoint: settings.endpoints.snapshot, security: settings.security, logger: logger
        )
        let sessions = self.sessions
        let waiters = self.waiters
        let credentialWaiters = self.credentialWaiters
        let keyWaiters = self.keyWaiters
        let feed = self.feed
        let gatewayId = settings.gatewayId
        self.replica = try CloneReplica(
            context: context, updates: settings.endpoints.updates, snapshot: settings.endpoints.snapshot,
            security: settings.security, extraSubscriptions: [BusTopic.gateway(settings.gatewayId)], logger: logger,
            onMessage: { message in
                Self.handleCommand(message, gatewayId: gatewayId, sessions: sessions, credentialWaiters: credentialWaiters, logger: logger)
            },
            onEpochChange: { epoch, previous in
                // A new registry run knows none of our sessions: announce them again so no
                // agent is lost or falsely flagged (DESIGN.md section 5).
                logger.notice("registry restarted; re-announcing sessions", metadata: [
                    "epoch": "\(epoch)", "previous": "\(previous ?? "-")", "sessions": "\(sessions.count)",
                ])
                Task {
                    for (sessionId, session) in sessions.all {
                        try? await events.send(.sessionOpened(.init(
                            gatewayId: gatewayId, sessionId: sessionId, agent: session.agent, metrics: session.latestMetrics.flatMap { try? $0.decoded() },
                            auth: session.auth
                        )))
                    }
                }
            },
            onChange: { changes in
                for change in changes {
                    switch change {
                    case .request(let record, _): waiters.notify(id: record.id, record)
                    case .key(let key, _): keyWaiters.notify(id: key.id, key)
                    case .credential(let credential, _):
                        credentialWaiters.notify(id: credential.agentId, credential)
                        if credential.isRevoked { Self.cutOff(credential, sessions: sessions, logger: logger) }
                    default: break
                    }
                }
                feed.publish(changes)
            }
        )
    }

    public func run() async throws {
        let router = Router(context: GatewayRequestContext.self)
        let keys = KeyRing(bootstrap: settings.tokens, replica: replica)
        // Every admin route: a key of at least viewer role, and an audit line for each change.
        let api = router.group("api/v1")
            .add(middleware: ReplicaReadyMiddleware(replica: replica))
            .add(middleware: AuthMiddleware(keys: keys))
            .add(middleware: AuditMiddleware(events: events, gatewayId: settings.gatewayId, logger: logger))
        FleetRoutes(replica: replica, events: events, registry: registry).register(on: api)
        RequestRoutes(replica: replica, events: events, waiters: waiters).register(on: api)
        ContentRoutes(replica: replica, registry: registry, waiters: waiters).register(on: api)
        EventRoutes(feed: feed, shutdown: shutdownSignal).register(on: api)
        TokenRoutes(replica: replica, events: events, waiters: keyWaiters).register(on: api)
        AuditRoutes(registry: registry).register(on: api)
        HealthRoutes(replica: replica, registry: registry, gatewayId: settings.gatewayId).register(on: router)
        CallbackIntake(
            replica: replica, jobs: jobs, gatewayId: settings.gatewayId, maxUploadBytes: settings.maxUploadBytes,
            limits: settings.limits, logger: logger
        ).register(on: router)
        MetricsRoutes(replica: replica, keys: keys, metricsText: settings.metricsText).register(on: router)
        DashboardRoutes().register(on: router)
        // The upgrade itself never reaches the router (GatewayChannel takes it, authenticated
        // from the headers alone); a plain GET on the path is a client mistake, not a session.
        router.get(RouterPath(settings.wsPath)) { _, _ -> Response in
            throw APIError(status: .upgradeRequired, code: "upgrade_required", message: "this path takes a WebSocket upgrade")
        }
        // Last: 405 + Allow for the methods each route above does not have.
        MethodRoutes.register(on: router)

        let agents = AgentSocketAcceptor(
            path: settings.wsPath, authenticator: AgentAuthenticator(keys: keys, replica: replica),
            services: AgentSessionServices(
                settings: settings, events: events, heartbeats: heartbeats, sessions: sessions, shutdown: shutdownSignal, logger: logger,
                replica: replica, credentialWaiters: credentialWaiters, refusals: refusals
            )
        )
        let onListening = self.onListening
        let appLogger = self.logger
        let tlsOn = settings.tls != nil
        let app = Application(
            router: router,
            server: try Self.server(agents: agents, limits: settings.limits, tls: settings.tls),
            configuration: ApplicationConfiguration(
                address: .hostname(settings.host, port: settings.port), serverName: "fleet-gateway"
            ),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                appLogger.info("gateway listening", metadata: ["port": "\(port)", "tls": "\(tlsOn)"])
                await onListening(channel.localAddress?.ipAddress ?? "", port)
            },
            logger: appLogger
        )

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.replica.run() }
            group.addTask { await self.registry.run() }
            group.addTask { await self.heartbeats.run() }
            group.addTask { await self.beat() }
            group.addTask {
                // On SIGTERM close every agent session with "going away" first, so agents
                // reconnect elsewhere at once and the registry hears each close.
                try? await gracefulShutdown()
                self.shutdownSignal.fire()
                await self.closeAllSessions()
            }
            try await app.run()
            self.shutdownSignal.fire()
            group.cancelAll()
        }
        logger.info("gateway stopped")
    }

    /// HTTP/1.1 with the WebSocket upgrade, inside TLS when `server.tls` is set: then the one
    /// listener speaks HTTPS and WSS only, so no token or command can cross it in clear.
    static func server(agents: AgentSocketAcceptor, limits: GatewayLimits, tls: TLSConfiguration?) throws -> HTTPServerBuilder {
        let plain = GatewayChannel.builder(agents: agents, idleTimeout: .init(limits.idleTimeout), headTimeout: .init(limits.headerTimeout))
        guard let tls else { return plain }
        return try .tls(plain, tlsConfiguration: tls)
    }

    /// A command from the registry on `gw.<id>.`: `[topic][kind][body]`.
    static func handleCommand(
        _ frames: [[UInt8]], gatewayId: String, sessions: SessionTable, credentialWaiters: ReplicaWaiters<AgentCredential>,
        logger: Logger
    ) {
        guard frames.count == 3, String(decoding: frames[0], as: UTF8.self) == BusTopic.gateway(gatewayId) else {
            logger.warning("malformed gateway command ignored", metadata: ["frames": "\(frames.count)"])
            return
        }
        let command: GatewayCommand
        do {
            command = try GatewayCommand(kind: String(decoding: frames[1], as: UTF8.self), body: frames[2])
        } catch {
            logger.warning("gateway command refused", metadata: ["error": "\(error)"])
            return
        }
        switch command {
        case .closeSession(let close):
            guard let session = sessions.session(close.sessionId) else { return }  // already gone
            logger.notice("closing session on registry's order", metadata: [
                "agent": "\(close.agentId)", "session": "\(close.sessionId)", "reason": "\(close.reason)",
            ])
            session.closing.fire()
            credentialWaiters.abandon(id: close.agentId)
            // The reason as an `error` frame first: a close reason is cut at 123 bytes.
            let code = close.code == FleetCloseCode.superseded ? "superseded" : close.code == FleetCloseCode.forbidden ? "forbidden" : "closed"
            session.socket.refuse(code: close.code, error: code, message: close.reason)
        case .callback(let callback):
            guard let session = sessions.session(callback.sessionId) else {
                // The agent left; the registry's deadline will re-send when it is back.
                Self.undelivered(reason: "no_session")
                logger.notice("callback for a session no longer here", metadata: ["request": "\(callback.frame.requestId)"])
                return
            }
            Task {
                do {
                    try await session.socket.write(try FleetJSON.encodeString(MasterMessage.callback(callback.frame)))
                } catch {
                    Self.undelivered(reason: "write_failed")
                    logger.warning("callback not delivered", metadata: ["request": "\(callback.frame.requestId)", "error": "\(error)"])
                }
            }
        }
    }

    /// `fleet_gateway_callbacks_undelivered_total{reason}`: callback requests from the registry
    /// this gateway could not hand to the agent (the session had gone, or the write failed).
    /// The registry's deadline re-sends them, so each is a delay, and a steady rate is a problem.
    static func undelivered(reason: String) {
        Counter(label: "fleet_gateway_callbacks_undelivered_total", dimensions: [("reason", reason)]).increment()
    }

    /// An agent whose credential was revoked loses its sessions here at once, whether or not
    /// the registry's close command (PUB, lossy) arrives.
    static func cutOff(_ credential: AgentCredential, sessions: SessionTable, logger: Logger) {
        for (sessionId, session) in sessions.sessions(agentId: credential.agentId) {
            logger.notice("closing a revoked agent's session", metadata: ["agent": "\(credential.agentId)", "session": "\(sessionId)"])
            session.closing.fire()
            session.socket.close(code: FleetCloseCode.forbidden, reason: "revoked")
        }
    }

    /// Closes every agent session with "going away" (sessions opened after this started close
    /// themselves: they check the shutdown signal once they are in the table).
    private func closeAllSessions() async {
        credentialWaiters.abandonAll()
        await withDiscardingTaskGroup { group in
            for (_, session) in sessions.all {
                session.closing.fire()
                group.addTask { await session.socket.closeAndWait(code: AgentSession.goingAway, reason: "gateway shutting down") }
            }
        }
    }

    /// The gateway's heartbeat to the registry (every second).
    private func beat() async {
        var trim = MemoryTrim()
        while !Task.isCancelled {
            let count = sessions.count
            let heartbeat = BusEvent.GatewayHeartbeat(gatewayId: settings.gatewayId, sessions: count, httpURL: nil)
            // Liveness over DEALER/ROUTER, never behind the agents' heartbeats on `events`; and on
            // `events` as before, which still counts if the query is lost.
            Task { [registry] in _ = await registry.query(RegistryQuery.GatewayBeat.kind, heartbeat, timeout: .seconds(2)) }
            events.trySend(.gatewayHeartbeat(heartbeat))
            var sockets = [("gateway_events", events.statistics), ("gateway_jobs", jobs.statistics)]
            if let lane = events.heartbeatLaneStatistics { sockets.append(("gateway_heartbeats", lane)) }
            BusSocketMetrics.record(sockets)
            if trim.shouldTrim(sessions: count) {
                let returned = fleet_malloc_trim()
                logger.info("sessions fell; freed memory returned to the system", metadata: ["sessions": "\(count)", "trimmed": "\(returned == 1)"])
            }
            do { try await Task.sleep(for: .seconds(1)) } catch { return }
        }
    }
}
