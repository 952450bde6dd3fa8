import AsyncHTTPClient
import FleetProtocol
import FleetSupport
import HTTPTypes
import HummingbirdWSClient
import Logging
import ServiceLifecycle
import Synchronization

/// The agent's connection to the master: one WebSocket to a gateway at a time, failover
/// through the configured URLs, reconnect with full-jitter backoff, heartbeats with a
/// metrics snapshot every `metrics.interval`, and a clean close on shutdown.
public final class AgentLink: Sendable {
    /// How a connection attempt ended, for logging and the backoff decision.
    enum Outcome: Sendable {
        case closed(welcomed: Bool, reason: String)
        case failed(welcomed: Bool, error: String)
        /// The master closed us because another connection uses our agent id.
        case superseded(reason: String)
        /// The master refused our enrollment token (4401) or its scope (4403).
        case refused(code: Int, reason: String)
        /// TLS failed (untrusted certificate, wrong host, client certificate refused):
        /// `explanation` names the setting to check.
        case tlsFailed(explanation: String, error: String)
    }

    /// Shortest wait after being superseded: long enough that two hosts sharing an id (a
    /// cloned VM with its state dir) take turns slowly instead of flapping every second.
    static let supersededMinimumDelay = 60.0
    /// Wait after the master said this agent was revoked (an operator's decision, not a fault).
    static let revokedMinimumDelay = 600.0

    private struct State {
        var outbound: WebSocketOutboundWriter?
        var shuttingDown = false
        var welcomed = false
        /// The gateway URL of the connection being made or up.
        var url: String?
    }

    private let config: AgentConfig
    private let info: AgentInfo
    private let sampler: MetricsSampler
    private let callbacks: CallbackHandler
    private let logger: Logger
    private let state = Mutex(State())
    /// Fired on shutdown so a reconnect wait (up to minutes) ends at once.
    private let stopping = ShutdownSignal()

    private let runtime: RuntimeSettings
    private let buffer: OfflineBuffer?
    private let credential: AgentCredentialFile
    /// The credential issued in this run, in case the file could not be written.
    private let issued = Mutex<String?>(nil)
    private let tls: AgentTLS
    /// Where replies go: the gateway this link was last welcomed on first.
    private let replyTargets: ReplyTargets

    /// - Parameters:
    ///   - tls: for wss:// gateways; also the reply POSTs' settings, through `http`.
    ///   - http: the client replies are POSTed with; its owner shuts it down.
    public init(
        config: AgentConfig, info: AgentInfo, sampler: MetricsSampler, runtime: RuntimeSettings, buffer: OfflineBuffer?,
        logger: Logger, tls: AgentTLS, http: HTTPClient, restart: @escaping @Sendable () async -> Void
    ) {
        self.tls = tls
        self.config = config
        self.info = info
        self.sampler = sampler
        self.runtime = runtime
        self.buffer = buffer
        self.logger = logger
        self.credential = AgentCredentialFile(stateDir: config.resolvedStateDir)
        let replyTargets = ReplyTargets(apiURL: config.master.apiURL)
        self.replyTargets = replyTargets
        self.callbacks = CallbackHandler(
            config: config, sampler: sampler, runtime: runtime, logger: logger, http: http, replyTargets: replyTargets, restart: restart
        )
    }

    /// Connects and reconnects until graceful shutdown or cancellation.
    public func run() async {
        await withGracefulShutdownHandler {
            await self.loop()
        } onGracefulShutdown: {
            self.requestClose()
        }
    }

    /// Closes the live connection (normal closure) and stops reconnecting.
    public func requestClose() {
        let outbound = state.withLock { state -> WebSocketOutboundWriter? in
            state.shuttingDown = true
            return state.outbound
        }
        stopping.fire()
        if let outbound {
            Task { try? await outbound.close(.normalClosure, reason: "agent shutting down") }
        }
    }

    private var shuttingDown: Bool { state.withLock { $0.shuttingDown } }

    /// True while a session is up (welcomed and not closed).
    public var isConnected: Bool { state.withLock { $0.welcomed && $0.outbound != nil } }

    /// Sends what the offline buffer holds, oldest first, in frames of 100 samples, deleting
    /// each batch once written. Stops at the first failure (the rest waits for next time).
    private func replayBuffer() async {
        guard let buffer, let outbound = state.withLock({ $0.outbound }) else { return }
        var sent = 0
        while true {
            let batch = buffer.oldest(100)
            guard !batch.isEmpty else { break }
            do {
                let frame = AgentMessage.samples(.init(metrics: batch.map(\.snapshot)))
                try await outbound.write(.text(try FleetJSON.encodeString(frame)))
            } catch {
                logger.notice("buffer replay interrupted", metadata: ["sent": "\(sent)", "error": "\(error)"])
                return
            }
            buffer.remove(batch.map(\.file))
            sent += batch.count
        }
        if sent > 0 { logger.info("buffered samples replayed", metadata: ["count": "\(sent)"]) }
    }

    /// Closes the session and waits (briefly) until the link has stopped, for a restart.
    public func stopForRestart() async {
        requestClose()
        for _ in 0..<50 where state.withLock({ $0.outbound != nil }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    private func loop() async {
        let urls = config.gatewayURLs
        let backoff = Backoff(base: config.connection.backoffBase, cap: config.connection.backoffCap)
        var failures = 0
        var index = 0
        while !Task.isCancelled && !shuttingDown {
            let url = urls[index % urls.count]
            logger.info("connecting", metadata: ["url": "\(url)"])
            let outcome = await connect(url)
            if shuttingDown || Task.isCancelled { break }
            var delay: Double
            switch outcome {
            case .closed(let welcomed, let reason):
                logger.warning("disconnected", metadata: ["url": "\(url)", "reason": "\(reason)"])
                // A session that got as far as welcome resets the backoff; a failed attempt grows it.
                failures = welcomed ? 0 : failures + 1
                delay = backoff.delay(failures: failures)
            case .failed(let welcomed, let error):
                logger.warning("connection failed", metadata: ["url": "\(url)", "error": "\(error)"])
                failures = welcomed ? 0 : failures + 1
                delay = backoff.delay(failures: failures)
            case .superseded(let reason):
                logger.error(
                    "another agent is using this agent's id; check for a copied state directory",
                    metadata: ["reason": "\(reason)", "state_dir": "\(config.resolvedStateDir)"]
                )
                let ceiling = Swift.max(config.connection.backoffCap, Self.supersededMinimumDelay)
                delay = Double.random(in: (ceiling / 2)...ceiling)
            case .refused(let code, let reason):
                logger.error(
                    code == FleetCloseCode.unauthorized
                        ? "the master refused this agent's token; check master.token"
                        : "the master refused this agent's token or credential (revoked, or the id is enrolled with another credential)",
                    metadata: ["code": "\(code)", "reason": "\(reason)", "credential": "\(credential.path)"]
                )
                // Retrying soon cannot help until someone fixes the token: wait long. A revoked
                // agent stays revoked: it asks again only every ten minutes or so.
                failures += 1
                delay = backoff.ceiling(failures: failures)
                if reason.contains("revoked") {
                    delay = Double.random(in: (Self.revokedMinimumDelay / 2)...Self.revokedMinimumDelay)
                }
            case .tlsFailed(let explanation, let error):
                // An error, not a warning: this does not heal by itself, but a certificate
                // renewed at the gateway does, so keep the normal backoff.
                logger.error("\(explanation)", metadata: ["url": "\(url)", "error": "\(error)"])
                failures += 1
                delay = backoff.delay(failures: failures)
            }
            // Fail over: the next attempt goes to the next URL in the list.
            index += 1
            logger.info(
                "reconnecting",
                metadata: [
                    "in_seconds": "\(Double(Int(delay * 1000)) / 1000)", "next": "\(urls[index % urls.count])",
                    "failures": "\(failures)",
                ]
            )
            if await stopping.sleep(for: .milliseconds(Int64(delay * 1000))) || Task.isCancelled { break }
        }
        logger.info("link stopped")
    }

    /// The agent's own secret: the one stored, or one made and stored now (0600) when there
    /// is an enrollment token to enroll it with. Nil without a token (authentication off) or
    /// when it cannot be stored: the agent then enrolls with the token alone and keeps the
    /// secret the welcome brings in memory (`issued`), as before.
    private func ownSecret() -> String? {
        if let secret = issued.withLock({ $0 }) ?? credential.load() { return secret }
        guard !config.master.token.isEmpty else { return nil }
        let secret = AgentSecret.make()
        do {
            try credential.store(secret)
            logger.notice("own credential made for enrollment", metadata: ["path": "\(credential.path)"])
            return secret
        } catch {
            logger.warning(
                "cannot store a credential before enrolling; enrolling with the token alone (a lost welcome would lock this id out)",
                metadata: ["path": "\(credential.path)", "error": "\(error)"]
            )
            return nil
        }
    }

    private func connect(_ url: String) async -> Outcome {
        state.withLock {
            $0.welcomed = false
            $0.url = url
        }
        // Who the agent is and its own credential, with the enrollment token beside it (so a
        // master that has no record of the credential yet, or lost it, enrolls it with that
        // same secret). The secret is made and stored before the first session: a welcome
        // lost after the registry bound the id then never locks the agent out.
        var headers = HTTPFields()
        headers[HTTPField.Name("X-Fleet-Agent-Id")!] = info.id
        if let secret = ownSecret() {
            headers[.authorization] = "Bearer \(secret)"
            if !config.master.token.isEmpty { headers[HTTPField.Name("X-Fleet-Enrollment-Token")!] = config.master.token }
        } else if !config.master.token.isEmpty {
            headers[.authorization] = "Bearer \(config.master.token)"
        }
        let configuration = WebSocketClientConfiguration(
            maxFrameSize: 1_048_576,
            additionalHeaders: headers,
            // How long to wait for the gateway's answer to a close: a gateway that is going
            // away may never answer, and the agent should be reconnecting by then.
            closeTimeout: .seconds(3),
            autoPing: .enabled(timePeriod: .milliseconds(Int64(config.connection.pingInterval * 1000)))
        )
        do {
            let close = try await WebSocketClient.connect(
                url: url, configuration: configuration, tlsConfiguration: tls.configuration, logger: logger
            ) {
                inbound, outbound, _ in
                try await self.session(inbound: inbound, outbound: outbound)
            }
            state.withLock { $0.outbound = nil }
            if let close, case .unknown(let code) = close.closeCode {
                switch Int(code) {
                case FleetCloseCode.superseded: return .superseded(reason: close.reason ?? "superseded")
                case FleetCloseCode.unauthorized, FleetCloseCode.forbidden:
                    return .refused(code: Int(code), reason: close.reason ?? "refused")
                default: break
                }
            }
            let reason = close.map { "closed by gateway: \($0.closeCode) \($0.reason ?? "")" } ?? "connection closed"
            return .closed(welcomed: state.withLock { $0.welcomed }, reason: reason)
        } catch {
            state.withLock { $0.outbound = nil }
            if let explanation = AgentTLS.explain(error) { return .tlsFailed(explanation: explanation, error: "\(error)") }
            return .failed(welcomed: state.withLock { $0.welcomed }, error: "\(error)")
        }
    }

    private func session(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        let closeNow = state.withLock { state -> Bool in
            state.outbound = outbound
            return state.shuttingDown
        }
        if closeNow {
            try await outbound.close(.normalClosure, reason: "agent shutting down")
            return
        }
        let hello = AgentMessage.hello(.init(agent: info, metrics: sampler.sample()))
        try await outbound.write(.text(try FleetJSON.encodeString(hello)))

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await message in inbound.messages(maxSize: 16 * 1_048_576) {
                    self.handle(message)
                }
            }
            group.addTask {
                // Ticks of at most 1 s, comparing with the interval in force now, so a
                // config request that shortens a 5-minute interval takes effect at once.
                var last = ContinuousClock.now
                while !Task.isCancelled {
                    let interval = Duration.milliseconds(Int64(self.runtime.metricsInterval * 1000))
                    try await Task.sleep(for: min(interval, .seconds(1)))
                    guard ContinuousClock.now - last >= interval else { continue }
                    last = ContinuousClock.now
                    let beat = AgentMessage.heartbeat(.init(metrics: self.sampler.sample()))
                    try await outbound.write(.text(try FleetJSON.encodeString(beat)))
                }
            }
            // The read ends when the socket closes; then stop the heartbeats too.
            try await group.next()
            group.cancelAll()
        }
    }

    private func handle(_ message: WebSocketMessage) {
        guard case .text(let text) = message else {
            logger.notice("binary frame from gateway ignored")
            return
        }
        do {
            switch try FleetJSON.decode(MasterMessage.self, from: text) {
            case .welcome(let welcome):
                if let secret = welcome.credential {
                    // Kept before anything else: from the next session on, it is the only way in.
                    issued.withLock { $0 = secret }
                    do {
                        try credential.store(secret)
                        logger.notice("enrolled: own credential stored", metadata: ["path": "\(credential.path)"])
                    } catch {
                        logger.critical("enrolled, but the credential cannot be stored; this agent will be refused after its next reconnect", metadata: ["error": "\(error)"])
                    }
                }
                if welcome.pendingApproval == true {
                    logger.warning("connected, waiting for approval (master agents approve \(info.id))")
                }
                if let url = state.withLock({ state -> String? in
                    state.welcomed = true
                    return state.url
                }) {
                    replyTargets.welcomed(on: url)
                }
                logger.info("connected", metadata: ["gateway": "\(welcome.gatewayId)", "session": "\(welcome.sessionId)"])
                Task { await self.replayBuffer() }
            case .error(let error):
                logger.warning("gateway refused a frame", metadata: ["code": "\(error.code)", "message": "\(error.message)"])
            case .callback(let callback):
                callbacks.handle(callback)
            }
        } catch {
            logger.notice("frame from gateway not understood", metadata: ["error": "\(error)"])
        }
    }
}
