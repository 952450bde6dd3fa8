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
import NIOCore

/// One agent's session on this gateway: the decisions, from hello to close, that
/// ``AgentSocketHandler`` asks for as frames arrive.
///
/// The session turns frames into bus events (`session.opened`, `session.heartbeat`,
/// `session.closed`) and never decides fleet state itself: the registry does. A frame it
/// cannot understand gets an `error` frame back and the connection stays up, so one bad
/// frame (a newer agent, a bug) never costs an agent its session. Everything a frame needs is
/// decided synchronously on the connection's event loop; only opening (announce, enrollment)
/// and closing wait on the bus, each in a short task of its own.
struct AgentSession: Sendable {
    let sessionId = UUID().uuidString.lowercased()
    let services: AgentSessionServices
    /// The last snapshot, for the session table (set on every heartbeat, without its lock).
    let latest = LatestSnapshot()
    /// What the upgrade decided (a refused upgrade never gets a session): how this connection
    /// authenticated, and which agent id it may be.
    let auth: AgentAuthenticator.Decision

    private var settings: GatewaySettings { services.settings }
    private var logger: Logger { services.logger }

    enum End: Sendable {
        case agentClosed
        case gatewayShutdown
        case failed(String)
    }

    struct Refusal: Error {
        var code: String
        var message: String
        /// The close code: 1008 for a bad hello, 1007 for text that is not UTF-8.
        var close: Int = FleetCloseCode.policyViolation
    }

    /// What one frame from the agent asks of the session, decided synchronously.
    enum Action {
        case none
        /// `indirect`: a BusEvent carries a whole snapshot; boxed, it costs a pointer.
        indirect case publish(BusEvent)
        /// Through the heartbeat outbox: never waits on the bus.
        indirect case heartbeat(BusEvent.SessionHeartbeat)
        case reply(MasterMessage)
        /// Close the connection with this code (RFC 6455: 1007 for text that is not UTF-8).
        case close(code: Int, reason: String)
    }

    /// The first frame: a valid hello, for the agent id this connection authenticated as.
    func checkHello(_ bytes: [UInt8], text: Bool) -> Result<AgentMessage.Hello, Refusal> {
        let decoded = AgentFrame.parse(bytes)
        Self.countFrame(decoded)
        switch decoded {
        case .success(.message(.hello(let hello))):
            guard AgentInfo.isValidID(hello.agent.id) else {
                return .failure(Refusal(code: "invalid_agent_id", message: "agent id '\(hello.agent.id.prefix(64))' is not valid"))
            }
            if let claimed = auth.agentId, claimed != hello.agent.id {
                Counter(label: "fleet_gateway_sessions_refused_total", dimensions: [("reason", "wrong_agent_id")]).increment()
                return .failure(Refusal(
                    code: "wrong_agent_id", message: "hello names agent \(hello.agent.id.prefix(64)) but the connection authenticated as \(claimed)",
                    close: FleetCloseCode.forbidden
                ))
            }
            return .success(hello)
        case .success(let other):
            return .failure(Refusal(code: "unexpected", message: "first frame must be hello, got \(other.type)"))
        case .failure(let error):
            if text, !Self.isUTF8(bytes) {
                return .failure(Refusal(code: "invalid_utf8", message: "a text frame that is not UTF-8", close: Self.invalidPayload))
            }
            return .failure(Refusal(code: error.code, message: error.description))
        }
    }

    /// Logs and counts a refused hello; the handler sends the `error` frame and the close.
    func refused(_ refusal: Refusal) {
        services.refusals.refused(refusal.code, "agent connection refused", metadata: ["reason": "\(refusal.message)"])
    }

    /// RFC 6455 close code 1007: a text message whose payload is not UTF-8.
    static let invalidPayload = 1007

    static func isUTF8(_ bytes: [UInt8]) -> Bool {
        String(validating: bytes, as: UTF8.self) != nil
    }

    /// What a valid hello starts: how the session authenticates on the bus, and for a first
    /// session the agent's own secret (only its digest leaves this process).
    private func prepare(_ hello: AgentMessage.Hello) -> (hello: AgentMessage.Hello, auth: SessionAuth, secret: String?) {
        var hello = hello
        if let metrics = hello.metrics { hello.metrics = clamped(metrics, replay: false) }
        switch auth {
        case .enroll(_, let keyId, let tenant, let held):
            let secret = held ?? Secrets.agentCredential()
            return (hello, .enrollment(.init(keyId: keyId, tenant: tenant, secretSHA256: KeyRing.digest(secret))), secret)
        case .credential:
            return (hello, .credential, nil)
        case .open, .refused:
            return (hello, SessionAuth.none, nil)
        }
    }

    /// Opens the session, announces it, settles an enrollment, says welcome. Runs in a task of
    /// its own that ends with the welcome; the handler holds the agent's frames meanwhile.
    func open(_ received: AgentMessage.Hello, socket: AgentSocket) async -> String {
        let (hello, sessionAuth, secret) = prepare(received)
        let agentId = hello.agent.id
        let closing = ShutdownSignal()
        services.sessions.open(sessionId, agent: hello.agent, metrics: hello.metrics, auth: sessionAuth, socket: socket, closing: closing, latest: latest)
        do {
            try await services.events.send(.sessionOpened(.init(
                gatewayId: settings.gatewayId, sessionId: sessionId, agent: hello.agent, metrics: hello.metrics, auth: sessionAuth
            )))
            var pending = services.replica.credential(agentId: agentId).map { !$0.approved } ?? false
            if case .enrollment(let enrollment) = sessionAuth {
                // The registry decides (two gateways may enroll one id at once).
                switch await settle(agentId, digest: enrollment.secretSHA256, closing: closing) {
                case .confirmed(let approved): pending = !approved
                case .refused: return agentId
                case .unconfirmed: break
                }
            }
            try await socket.write(try FleetJSON.encodeString(MasterMessage.welcome(.init(
                sessionId: sessionId, gatewayId: settings.gatewayId, credential: secret, pendingApproval: pending ? true : nil
            ))))
        } catch {
            logger.error("session not announced", metadata: ["agent": "\(agentId)", "error": "\(error)"])
        }
        logger.info("agent connected", metadata: ["agent": "\(agentId)", "session": "\(sessionId)", "host": "\(hello.agent.hostname)"])
        // Opened after the gateway began shutting down: its sweep of the table may have missed us.
        if services.shutdown.isFired { socket.close(code: Self.goingAway, reason: "gateway shutting down") }
        return agentId
    }

    enum Settled {
        case confirmed(approved: Bool)
        /// The registry said no: its close, with the reason, is on the socket; no secret goes out.
        case refused
        /// No answer in time (a registry behind on its events): the secret goes out anyway.
        /// Withholding it could lock the agent out for good, since the registry may bind it a
        /// moment later; if it refuses instead, its close comes, and the agent's next session
        /// enrolls again with the same secret (or is refused with the reason).
        case unconfirmed
    }

    private func settle(_ agentId: String, digest: String, closing: ShutdownSignal) async -> Settled {
        if let bound = await confirmEnrollment(agentId, digest: digest, closing: closing) {
            logger.notice("agent enrolled", metadata: ["agent": "\(agentId)", "tenant": "\(bound.tenant)"])
            return .confirmed(approved: bound.approved)
        }
        if closing.isFired { return .refused }
        logger.warning("enrollment not yet confirmed by the registry; credential issued", metadata: [
            "agent": "\(agentId)", "waited": "\(settings.limits.enrollmentTimeout)",
        ])
        return .unconfirmed
    }

    /// Waits for the replica to show the id bound to `digest`; nil when the registry refused
    /// (its close arrives, fires `closing` and abandons this wait) or did not answer in time.
    /// One wait in the session's own task, no task group: whatever a session's task ever
    /// allocates stays with it for its whole life (see the memory note).
    private func confirmEnrollment(_ agentId: String, digest: String, closing: ShutdownSignal) async -> AgentCredential? {
        let replica = services.replica
        let settled = await services.credentialWaiters.wait(
            for: agentId, timeout: settings.limits.enrollmentTimeout, current: { replica.credential(agentId: agentId) },
            until: { $0.secretSHA256 == digest || $0.isRevoked }
        )
        guard !closing.isFired, let settled, settled.secretSHA256 == digest, !settled.isRevoked else { return nil }
        return settled
    }

    /// The agent's clock is not trusted with history: sample times further than
    /// `gateway.max_clock_skew` from now are clamped to that bound. Replayed samples (taken
    /// while disconnected) may be old, but not older than `maxReplayAge`.
    private func clamped(_ snapshot: MetricsSnapshot, replay: Bool) -> MetricsSnapshot {
        guard !within(snapshot.timestamp, replay: replay) else { return snapshot }
        let (earliest, latest) = bounds(replay: replay)
        Self.clampedSamples.increment()
        var fixed = snapshot
        fixed.timestamp = min(max(snapshot.timestamp, earliest), latest)
        return fixed
    }

    private func bounds(replay: Bool) -> (earliest: Date, latest: Date) {
        let now = Date()
        let skew = settings.limits.maxClockSkew
        return (now.addingTimeInterval(-(replay ? Self.maxReplayAge : skew)), now.addingTimeInterval(skew))
    }

    /// Whether a sample time is within the skew bound (or the replay age).
    private func within(_ timestamp: Date, replay: Bool) -> Bool {
        let (earliest, latest) = bounds(replay: replay)
        return timestamp >= earliest && timestamp <= latest
    }

    /// Oldest a replayed sample may claim to be (30 days: longer than any offline buffer).
    static let maxReplayAge: TimeInterval = 30 * 86_400
    private static let clampedSamples = Counter(label: "fleet_gateway_samples_clamped_total")
    private static let throttledFrames = Counter(label: "fleet_gateway_frames_throttled_total")

    func finish(agentId: String, end: End) async {
        services.sessions.close(sessionId)
        let reason: String
        switch end {
        case .agentClosed: reason = "socket closed"
        case .gatewayShutdown: reason = "gateway \(settings.gatewayId) shutting down"
        case .failed(let why): reason = "connection failed: \(why)"
        }
        do {
            try await services.events.send(.sessionClosed(.init(
                gatewayId: settings.gatewayId, sessionId: sessionId, agentId: agentId, reason: reason
            )))
        } catch {
            logger.error("session close not announced", metadata: ["agent": "\(agentId)", "error": "\(error)"])
        }
        logger.info("agent disconnected", metadata: ["agent": "\(agentId)", "session": "\(sessionId)", "reason": "\(reason)"])
    }

    /// The session's rate limit: its bucket, and when the agent was last told it is over it.
    struct FrameLimit {
        var bucket: TokenBucket
        var lastTold: ContinuousClock.Instant?
    }

    /// Over its rate, a frame is dropped and the agent told (once a second); otherwise it is
    /// handled. Synchronous, on the connection's event loop.
    func admit(_ bytes: [UInt8], text: Bool, agentId: String, limit: inout FrameLimit) -> Action {
        guard limit.bucket.take() else {
            Self.throttledFrames.increment()
            let now = ContinuousClock.now
            guard limit.lastTold.map({ now - $0 >= .seconds(1) }) ?? true else { return .none }
            limit.lastTold = now
            return .reply(.error(.init(
                code: "rate_limited",
                message: "more than \(settings.limits.agentRate) frames/s (burst \(Int(settings.limits.agentBurst))): frames dropped"
            )))
        }
        return handle(bytes, text: text, agentId: agentId)
    }

    /// Decodes one frame and decides what it asks for.
    private func handle(_ bytes: [UInt8], text: Bool, agentId: String) -> Action {
        let decoded = AgentFrame.parse(bytes)
        Self.countFrame(decoded)
        switch decoded {
        case .success(.heartbeat(let raw)):
            return heartbeat(raw, agentId: agentId)
        case .success(.message(.heartbeat(let beat))):
            // Not reached by a well-formed frame (the cheap path takes every heartbeat), but
            // correct if the frame's shape ever makes it fall through.
            guard let raw = try? RawSnapshot(beat.metrics) else {
                return .reply(.error(.init(code: "malformed", message: "snapshot could not be encoded")))
            }
            return heartbeat(raw, agentId: agentId)
        case .success(.message(.samples(let replay))):
            guard replay.metrics.count <= 1000 else {
                return .reply(.error(.init(code: "too_many", message: "at most 1000 samples per frame")))
            }
            let metrics = replay.metrics.map { clamped($0, replay: true) }
            return .publish(.samples(.init(gatewayId: settings.gatewayId, sessionId: sessionId, agentId: agentId, metrics: metrics)))
        case .success(.message(.hello)):
            return .reply(.error(.init(code: "unexpected", message: "hello already received on this session")))
        case .failure(let error):
            if text, !Self.isUTF8(bytes) {
                logger.notice("agent frame not UTF-8; closing", metadata: ["agent": "\(agentId)", "session": "\(sessionId)"])
                return .close(code: Self.invalidPayload, reason: "text frame is not UTF-8")
            }
            logger.notice("agent frame refused", metadata: ["agent": "\(agentId)", "session": "\(sessionId)", "error": "\(error)"])
            return .reply(.error(.init(code: error.code, message: error.description)))
        }
    }

    /// A heartbeat's snapshot goes on as the agent's bytes; only a sample time past the skew
    /// bound costs a decode and an encode (to clamp it).
    private func heartbeat(_ received: RawSnapshot, agentId: String) -> Action {
        var raw = received
        if !within(raw.timestamp, replay: false), let snapshot = try? raw.decoded(), let fixed = try? RawSnapshot(clamped(snapshot, replay: false)) {
            raw = fixed
        }
        latest.value = raw
        return .heartbeat(.init(gatewayId: settings.gatewayId, sessionId: sessionId, agentId: agentId, metrics: raw))
    }

    /// Counters per frame type, made once: looking a counter up in the metrics backend takes a
    /// lock and a dictionary probe, and this runs for every heartbeat of every agent.
    private static let frameCounters: [String: Counter] = Dictionary(
        uniqueKeysWithValues: ["hello", "heartbeat", "samples", "invalid"].map {
            ($0, Counter(label: "fleet_gateway_frames_total", dimensions: [("type", $0)]))
        }
    )

    private static func countFrame(_ decoded: Result<AgentFrame, ProtocolError>) {
        frameCounters[(try? decoded.get().type) ?? "invalid"]?.increment()
    }

    /// RFC 6455's "going away": the gateway shuts down.
    static let goingAway = 1001

    /// Longest a refused connection is held open to carry its reason.
    static let refusalGrace: TimeAmount = .seconds(1)
}
