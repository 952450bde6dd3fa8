#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Bus
import FleetProtocol
import FleetSupport
import HummingbirdWebSocket
import Logging
import Metrics
import NIOCore

/// One agent's WebSocket on this gateway, from hello to close.
///
/// The session turns frames into bus events (`session.opened`, `session.heartbeat`,
/// `session.closed`) and never decides fleet state itself: the registry does. A frame it
/// cannot understand gets an `error` frame back and the connection stays up, so one bad
/// frame (a newer agent, a bug) never costs an agent its session.
struct AgentSession {
    let sessionId = UUID().uuidString.lowercased()
    let settings: GatewaySettings
    let events: EventSender
    let heartbeats: HeartbeatOutbox
    let sessions: SessionTable
    let shutdown: ShutdownSignal
    let logger: Logger
    /// What `shouldUpgrade` decided (the upgrade is refused before this session exists
    /// otherwise): how this connection authenticated, and which agent id it may be.
    let auth: AgentAuthenticator.Decision
    let replica: CloneReplica
    let credentialWaiters: ReplicaWaiters<AgentCredential>
    /// Refusals are an outsider's to cause: logged a line per kind per 10 s, all counted.
    let refusals: RefusalLog

    enum End: Sendable {
        case agentClosed
        case gatewayShutdown
        case failed(String)
    }

    private struct Refusal: Error {
        var code: String
        var message: String
    }

    /// What one frame from the agent asks of the session, decided synchronously.
    private enum Action {
        case none
        /// `indirect`: a BusEvent carries a whole snapshot; boxed, it costs the loop's frame a pointer.
        indirect case publish(BusEvent)
        /// Through the heartbeat outbox: never waits on the bus.
        indirect case heartbeat(BusEvent.SessionHeartbeat)
        case reply(MasterMessage)
    }

    // Memory note (measured with heaptrack, bench/RESULTS.md): an idle connection's cost is mostly
    // the async frames suspended in it, which Swift allocates per task for the whole life of the
    // call and sizes for everything the function might hold at any await, inlined callees
    // included. So the long-lived frames (`run`, `readFrames`) hold only the iterator and a few
    // references; decoding and deciding happen in synchronous `@inline(never)` functions, on the
    // thread's stack, and are gone when the next frame is awaited.

    @inline(never)
    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        var messages = inbound.messages(maxSize: settings.maxFrameBytes).makeAsyncIterator()
        // 1. Hello, announce (and for a first session, enroll), welcome.
        guard let agentId = await handshake(&messages, outbound: outbound) else { return }
        // 2. Frames until the agent goes away or the gateway shuts down. On shutdown the
        //    gateway closes every session in its table with "going away"; the agent answers
        //    and the read ends (one task for all sessions instead of a watcher per session).
        var end = await readFrames(&messages, agentId: agentId, outbound: outbound)
        if shutdown.isFired { end = .gatewayShutdown }
        // 3. Tell the registry, whatever happened.
        await finish(agentId: agentId, end: end)
    }

    /// Waits for a valid hello (within the timeout: a timer closes the socket, which ends the
    /// read), opens the session, announces it and says welcome. Nil when refused.
    @inline(never)
    private func handshake(_ messages: inout WebSocketInboundMessageStream.AsyncIterator, outbound: WebSocketOutboundWriter) async -> String? {
        let timeout = settings.helloTimeout
        let helloTimer = Task {
            try await Task.sleep(for: timeout)
            try? await outbound.close(.policyViolation, reason: "no hello within \(timeout)")
        }
        let helloResult = await receiveHello(&messages)
        helloTimer.cancel()
        let hello: AgentMessage.Hello
        switch helloResult {
        case .success(let received):
            hello = received
        case .failure(let refusal):
            await refuseHello(code: refusal.code, message: refusal.message, close: FleetCloseCode.policyViolation, outbound)
            return nil
        }
        if let claimed = auth.agentId, claimed != hello.agent.id {
            let message = "hello names agent \(hello.agent.id.prefix(64)) but the connection authenticated as \(claimed)"
            Counter(label: "fleet_gateway_sessions_refused_total", dimensions: [("reason", "wrong_agent_id")]).increment()
            await refuseHello(code: "wrong_agent_id", message: message, close: FleetCloseCode.forbidden, outbound)
            return nil
        }
        return await open(hello, outbound: outbound)
    }

    /// An `error` frame with the reason, then the close.
    @inline(never)
    private func refuseHello(code: String, message: String, close: Int, _ outbound: WebSocketOutboundWriter) async {
        refusals.refused(code, "agent connection refused", metadata: ["reason": "\(message)"])
        try? await send(.error(.init(code: code, message: message)), outbound)
        try? await outbound.close(.init(codeNumber: close), reason: String(message.prefix(120)))
    }

    /// What a valid hello starts: how the session authenticates on the bus, and for a first
    /// session the agent's own secret (only its digest leaves this process).
    @inline(never)
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

    /// Opens the session, announces it, settles an enrollment, says welcome. Its own frame
    /// (not inlined into `handshake`): a session's task keeps, for its whole life, the memory
    /// its deepest moment needed (the connect bench measured +8 KB per agent when it was inline).
    @inline(never)
    private func open(_ received: AgentMessage.Hello, outbound: WebSocketOutboundWriter) async -> String? {
        let (hello, sessionAuth, secret) = prepare(received)
        let agentId = hello.agent.id
        let closing = ShutdownSignal()
        sessions.open(sessionId, agent: hello.agent, metrics: hello.metrics, auth: sessionAuth, outbound: outbound, closing: closing)
        do {
            try await events.send(.sessionOpened(.init(
                gatewayId: settings.gatewayId, sessionId: sessionId, agent: hello.agent, metrics: hello.metrics, auth: sessionAuth
            )))
            var pending = replica.credential(agentId: agentId).map { !$0.approved } ?? false
            if case .enrollment(let enrollment) = sessionAuth {
                // The registry decides (two gateways may enroll one id at once).
                switch await settle(agentId, digest: enrollment.secretSHA256, closing: closing) {
                case .confirmed(let approved): pending = !approved
                case .refused: return agentId
                case .unconfirmed: break
                }
            }
            try await send(.welcome(.init(
                sessionId: sessionId, gatewayId: settings.gatewayId, credential: secret, pendingApproval: pending ? true : nil
            )), outbound)
        } catch {
            logger.error("session not announced", metadata: ["agent": "\(agentId)", "error": "\(error)"])
        }
        logger.info("agent connected", metadata: ["agent": "\(agentId)", "session": "\(sessionId)", "host": "\(hello.agent.hostname)"])
        // Opened after the gateway began shutting down: its sweep of the table may have missed us.
        if shutdown.isFired { try? await outbound.close(.goingAway, reason: "gateway shutting down") }
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

    @inline(never)
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
    @inline(never)
    private func confirmEnrollment(_ agentId: String, digest: String, closing: ShutdownSignal) async -> AgentCredential? {
        let replica = self.replica
        let settled = await credentialWaiters.wait(
            for: agentId, timeout: settings.limits.enrollmentTimeout, current: { replica.credential(agentId: agentId) },
            until: { $0.secretSHA256 == digest || $0.isRevoked }
        )
        guard !closing.isFired, let settled, settled.secretSHA256 == digest, !settled.isRevoked else { return nil }
        return settled
    }

    /// The agent's clock is not trusted with history: sample times further than
    /// `gateway.max_clock_skew` from now are clamped to that bound. Replayed samples (taken
    /// while disconnected) may be old, but not older than `maxReplayAge`.
    @inline(never)
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

    @inline(never)
    private func finish(agentId: String, end: End) async {
        sessions.close(sessionId)
        heartbeats.forget(sessionId: sessionId, agentId: agentId)  // no beat after the close
        let reason: String
        switch end {
        case .agentClosed: reason = "socket closed"
        case .gatewayShutdown: reason = "gateway \(settings.gatewayId) shutting down"
        case .failed(let why): reason = "connection failed: \(why)"
        }
        do {
            try await events.send(.sessionClosed(.init(
                gatewayId: settings.gatewayId, sessionId: sessionId, agentId: agentId, reason: reason
            )))
        } catch {
            logger.error("session close not announced", metadata: ["agent": "\(agentId)", "error": "\(error)"])
        }
        logger.info("agent disconnected", metadata: ["agent": "\(agentId)", "session": "\(sessionId)", "reason": "\(reason)"])
    }

    @inline(never)
    private func receiveHello(_ messages: inout WebSocketInboundMessageStream.AsyncIterator) async -> Result<AgentMessage.Hello, Refusal> {
        let first: WebSocketMessage?
        do {
            first = try await messages.next()
        } catch {
            return .failure(Refusal(code: "malformed", message: "\(error)"))
        }
        guard let first else { return .failure(Refusal(code: "closed", message: "closed before hello")) }
        return Self.checkHello(decode(first))
    }

    @inline(never)
    private static func checkHello(_ decoded: Result<AgentFrame, ProtocolError>) -> Result<AgentMessage.Hello, Refusal> {
        countFrame(decoded)
        switch decoded {
        case .success(.message(.hello(let hello))):
            guard AgentInfo.isValidID(hello.agent.id) else {
                return .failure(Refusal(code: "invalid_agent_id", message: "agent id '\(hello.agent.id.prefix(64))' is not valid"))
            }
            return .success(hello)
        case .success(let other):
            return .failure(Refusal(code: "unexpected", message: "first frame must be hello, got \(other.type)"))
        case .failure(let error):
            return .failure(Refusal(code: error.code, message: error.description))
        }
    }

    @inline(never)
    private func readFrames(
        _ iterator: inout WebSocketInboundMessageStream.AsyncIterator, agentId: String, outbound: WebSocketOutboundWriter
    ) async -> End {
        var limit = FrameLimit(bucket: TokenBucket(rate: settings.limits.agentRate, burst: settings.limits.agentBurst))
        do {
            while let message = try await iterator.next() {
                switch admit(message, agentId: agentId, limit: &limit) {
                case .none: break
                case .publish(let event): try await events.send(event)
                case .heartbeat(let beat): heartbeats.submit(beat)
                case .reply(let reply): try await send(reply, outbound)
                }
            }
            return .agentClosed
        } catch {
            return .failed("\(error)")
        }
    }

    /// The session's rate limit: its bucket, and when the agent was last told it is over it.
    struct FrameLimit {
        var bucket: TokenBucket
        var lastTold: ContinuousClock.Instant?
    }

    /// Over its rate, a frame is dropped and the agent told (once a second); otherwise it is
    /// handled. Synchronous, like `handle`, so the read loop's frame stays small.
    @inline(never)
    private func admit(_ message: WebSocketMessage, agentId: String, limit: inout FrameLimit) -> Action {
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
        return handle(message, agentId: agentId)
    }

    /// Decodes one frame and decides what it asks for (synchronous: see the memory note).
    @inline(never)
    private func handle(_ message: WebSocketMessage, agentId: String) -> Action {
        let decoded = decode(message)
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
            logger.notice("agent frame refused", metadata: ["agent": "\(agentId)", "session": "\(sessionId)", "error": "\(error)"])
            return .reply(.error(.init(code: error.code, message: error.description)))
        }
    }

    /// A heartbeat's snapshot goes on as the agent's bytes; only a sample time past the skew
    /// bound costs a decode and an encode (to clamp it).
    @inline(never)
    private func heartbeat(_ received: RawSnapshot, agentId: String) -> Action {
        var raw = received
        if !within(raw.timestamp, replay: false), let snapshot = try? raw.decoded(), let fixed = try? RawSnapshot(clamped(snapshot, replay: false)) {
            raw = fixed
        }
        sessions.update(sessionId, metrics: raw)
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

    /// Tells a connection refused at its upgrade why (an `error` frame), then closes it with
    /// `code`.
    ///
    /// The decision was made before the upgrade; the socket exists only to carry the reason,
    /// since the WebSocket library cannot answer an upgrade with 401. It waits for the agent's
    /// first frame, or `refusalGrace` at most, because frames the server writes in the same
    /// instant as its 101 response were seen to get lost in the client's upgrade; a real agent
    /// sends its hello at once, and a client that sends nothing is gone within the grace.
    @inline(never)
    static func refuse(
        _ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, code: Int, error: String, message: String,
        refusals: RefusalLog, logger: Logger
    ) async {
        let frame = (try? FleetJSON.encodeString(MasterMessage.error(.init(code: error, message: message)))) ?? ""
        let timer = Task {
            // No first frame in time (a silent client, or an agent slow to send its hello on a
            // busy machine): the reason goes out anyway, then the close.
            try await Task.sleep(for: refusalGrace)
            try? await outbound.write(.text(frame))
            try? await outbound.close(.init(codeNumber: code), reason: String(message.prefix(120)))
        }
        var frames = inbound.messages(maxSize: 1_048_576).makeAsyncIterator()
        _ = try? await frames.next()
        timer.cancel()
        refusals.refused(error, "agent connection refused", metadata: ["code": "\(code)", "reason": "\(message)"])
        Counter(label: "fleet_gateway_sessions_refused_total", dimensions: [("reason", error)]).increment()
        try? await outbound.write(.text(frame))
        try? await outbound.close(.init(codeNumber: code), reason: String(message.prefix(120)))
    }

    @inline(never)
    private func decode(_ message: WebSocketMessage) -> Result<AgentFrame, ProtocolError> {
        let bytes: [UInt8]
        switch message {
        case .text(let text): bytes = Array(text.utf8)
        case .binary(let buffer): bytes = Array(buffer.readableBytesView)
        }
        return AgentFrame.parse(bytes)
    }

    /// Longest a refused connection is held open to carry its reason.
    static let refusalGrace: Duration = .seconds(1)

    @inline(never)
    private func send(_ message: MasterMessage, _ outbound: WebSocketOutboundWriter) async throws {
        try await outbound.write(.text(try FleetJSON.encodeString(message)))
    }
}
