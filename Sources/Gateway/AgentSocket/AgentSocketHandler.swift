import FleetProtocol
import FleetSupport
import Logging
import Metrics
import NIOCore
import NIOWebSocket

/// An agent's WebSocket after the upgrade, served by channel handlers on its event loop (the
/// way the bench's simulated agents are written): no task per connection. A connection costs
/// its channel, its pipeline and buffers, and the session's record; a task runs only while the
/// session opens (announce, enrollment, welcome) and while its close is announced.
///
/// This handler keeps RFC 6455's rules that are not the frame codec's: ping every
/// `pingInterval` and close when the previous one went unanswered; answer pings; the close
/// handshake both ways (a close timeout cuts an agent that never answers); 1007 for text that
/// is not UTF-8, 1009 for a message over the limit whole or in fragments (the aggregator's
/// errors), 1002 for reserved bits. Frames go to ``AgentSession`` for what they mean.
///
/// Before it: NIO's frame decoder (single frames over `maxFrameBytes` are 1009 there, through
/// `WebSocketProtocolErrorHandler`) and `NIOWebSocketFrameAggregator` (fragments joined).
final class AgentSocketHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// What this connection is for, decided at the upgrade.
    enum Role {
        /// An agent session.
        case session(AgentSession)
        /// Refused before it began (bad credentials, an overloaded gateway): the socket only
        /// carries the reason, an `error` frame, then the close with `code`.
        case refusal(code: Int, error: String, message: String)
    }

    private enum Phase {
        /// Waiting for the agent's hello (a timer closes with 1008 after `helloTimeout`).
        case hello
        /// The hello was good; the session is being announced. Reading is paused and the
        /// frames already read wait here.
        case opening(held: [(bytes: [UInt8], text: Bool)])
        case open(agentId: String, limit: AgentSession.FrameLimit)
        /// A refused connection waiting for the client's first frame (or `refusalGrace`).
        case refusing
        /// The reason is out; only the close handshake is left.
        case done
    }

    private let role: Role
    private let services: AgentSessionServices
    private let eventLoop: any EventLoop
    private var phase: Phase
    private var context: ChannelHandlerContext?
    private var batcher: HeartbeatBatcher?
    private(set) var socket: AgentSocket?
    private var finished: EventLoopPromise<Void>?
    private var timer: Scheduled<Void>?
    private var pinger: RepeatedTask?
    private var closeTimer: Scheduled<Void>?
    /// The payload of the ping not yet answered, if any.
    private var pingData: ByteBuffer?
    private var closeSent = false
    private var inactive = false
    /// Whether an opened session still has to announce its close (exactly once).
    private var openedAgent: String?
    private var end: AgentSession.End = .agentClosed

    /// A close reason is at most 123 bytes of UTF-8 (RFC 6455 section 5.5).
    static let maxCloseReasonBytes = 123
    /// How long the agent has to answer our close frame before the connection is cut.
    static let closeTimeout: TimeAmount = .seconds(3)
    /// Frames a session holds while it opens: an agent sends nothing before its welcome but
    /// its hello, so this only bounds a client that does.
    static let maxHeldFrames = 16

    init(role: Role, services: AgentSessionServices, eventLoop: any EventLoop) {
        self.role = role
        self.services = services
        self.eventLoop = eventLoop
        switch role {
        case .session: phase = .hello
        case .refusal: phase = .refusing
        }
    }

    // MARK: Life cycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        batcher = services.batchers.batcher(on: context.eventLoop)
        let promise = context.eventLoop.makePromise(of: Void.self)
        finished = promise
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        socket = AgentSocket(handler: bound, eventLoop: context.eventLoop, finished: promise.futureResult)
        switch role {
        case .session:
            let timeout = services.settings.helloTimeout
            timer = context.eventLoop.scheduleTask(in: TimeAmount(timeout)) { bound.value.helloTimedOut(after: timeout) }
        case .refusal:
            // No first frame in time (a silent client, or an agent slow to send its hello on
            // a busy machine): the reason goes out anyway, then the close.
            timer = context.eventLoop.scheduleTask(in: AgentSession.refusalGrace) { bound.value.sendRefusal() }
        }
        let interval = TimeAmount(services.settings.pingInterval)
        pinger = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in bound.value.pingDue() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopTimers()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        inactive = true
        stopTimers()
        switch phase {
        case .hello:
            services.refusals.refused("closed", "agent connection refused", metadata: ["reason": "closed before hello"])
            announceClose()  // no session: only `finished` to complete
        case .opening:
            break  // `opened` announces the close once the open is announced
        case .open, .refusing, .done:
            announceClose()
        }
        context.fireChannelInactive()
    }

    /// The server accepts with remote half-closure allowed (Hummingbird's HTTP needs it), so
    /// an agent that is gone (its end closed, the process killed) shows as the input closing,
    /// not as the channel going inactive: close our side too.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge, NIOWebSocketFrameAggregator.Error.tooManyFragments:
            close(code: 1009, reason: "message over \(services.settings.maxFrameBytes) bytes")
        case is NIOWebSocketFrameAggregator.Error:
            close(code: 1002, reason: "fragmentation out of order")
        case is NIOWebSocketError:
            break  // WebSocketProtocolErrorHandler has sent the close (1002 or 1009) and closes
        default:
            end = .failed("\(error)")
            context.close(promise: nil)
        }
    }

    fileprivate func helloTimedOut(after timeout: Duration) {
        guard case .hello = phase else { return }
        phase = .done
        services.refusals.refused("closed", "agent connection refused", metadata: ["reason": "no hello within \(timeout)"])
        close(code: FleetCloseCode.policyViolation, reason: "no hello within \(timeout)")
    }

    private func stopTimers() {
        timer?.cancel()
        timer = nil
        pinger?.cancel()
        pinger = nil
        closeTimer?.cancel()
        closeTimer = nil
    }

    // MARK: Frames

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard !frame.rsv1, !frame.rsv2, !frame.rsv3 else {
            close(code: 1002, reason: "reserved bits set without an extension")
            return
        }
        switch frame.opcode {
        case .text, .binary:
            guard !closeSent else { return }  // closing: data is no longer read
            message(Array(frame.unmaskedData.readableBytesView), text: frame.opcode == .text)
        case .ping:
            guard !closeSent else { return }
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .pong:
            if let sent = pingData, sent == frame.unmaskedData { pingData = nil }
        case .connectionClose:
            peerClosed(frame)
        default:
            close(code: 1002, reason: "unknown opcode")
        }
    }

    private func message(_ bytes: [UInt8], text: Bool) {
        switch phase {
        case .hello:
            timer?.cancel()
            timer = nil
            guard case .session(let session) = role else { return }
            switch session.checkHello(bytes, text: text) {
            case .success(let hello): startOpening(hello, session)
            case .failure(let refusal):
                session.refused(refusal)
                phase = .done
                refuse(code: refusal.close, error: refusal.code, message: refusal.message)
            }
        case .opening(var held):
            guard held.count < Self.maxHeldFrames else { return }
            held.append((bytes, text))
            phase = .opening(held: held)
        case .open(let agentId, var limit):
            guard case .session(let session) = role else { return }
            let action = session.admit(bytes, text: text, agentId: agentId, limit: &limit)
            phase = .open(agentId: agentId, limit: limit)
            perform(action)
        case .refusing:
            sendRefusal()
        case .done:
            break
        }
    }

    private func perform(_ action: AgentSession.Action) {
        switch action {
        case .none: break
        case .heartbeat(let beat): batcher?.add(beat)
        case .publish(let event):
            // Rare (replayed samples after a reconnect) and bounded by the frame rate limit; the
            // send may wait for room on the bus, which a read on the event loop must not.
            let events = services.events
            let logger = services.logger
            Task {
                do { try await events.send(event) } catch {
                    logger.error("bus event not sent", metadata: ["kind": "\(event.kind)", "error": "\(error)"])
                }
            }
        case .reply(let message):
            if let text = try? FleetJSON.encodeString(message) { _ = write(text: text) }
        case .close(let code, let reason):
            close(code: code, reason: reason)
        }
    }

    // MARK: Opening

    private func startOpening(_ hello: AgentMessage.Hello, _ session: AgentSession) {
        guard let context, let socket else { return }
        phase = .opening(held: [])
        // Back-pressure while the session is announced: nothing more is read until the welcome.
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        Task {
            let agentId = await session.open(hello, socket: socket)
            eventLoop.execute { bound.value.opened(agentId: agentId) }
        }
    }

    private func opened(agentId: String) {
        guard case .opening(let held) = phase else { return }
        openedAgent = agentId
        phase = .open(agentId: agentId, limit: AgentSession.FrameLimit(bucket: TokenBucket(
            rate: services.settings.limits.agentRate, burst: services.settings.limits.agentBurst
        )))
        if inactive {
            announceClose()  // the connection went while it opened
            return
        }
        for frame in held { message(frame.bytes, text: frame.text) }
        try? context?.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
        context?.read()
    }

    /// Once the connection is gone: a session that was opened tells the registry (one task,
    /// until the event is on the bus); then `finished` completes.
    private func announceClose() {
        guard let finished else { return }
        self.finished = nil
        guard let agentId = openedAgent, case .session(let session) = role else {
            finished.succeed()
            return
        }
        openedAgent = nil
        // Here, on the loop, before the close goes out: the beats this loop read before the
        // close are handed on first, so a session's last beat is not lost. They travel on the
        // heartbeat lane and may still reach the registry after the close, which keeps their
        // sample without reviving the session.
        batcher?.flush()
        let end: AgentSession.End = services.shutdown.isFired ? .gatewayShutdown : self.end
        Task {
            await session.finish(agentId: agentId, end: end)
            finished.succeed()
        }
    }

    // MARK: Refusal

    fileprivate func sendRefusal() {
        guard case .refusing = phase, case .refusal(let code, let error, let message) = role else { return }
        timer?.cancel()
        timer = nil
        phase = .done
        services.refusals.refused(error, "agent connection refused", metadata: ["code": "\(code)", "reason": "\(message)"])
        Counter(label: "fleet_gateway_sessions_refused_total", dimensions: [("reason", error)]).increment()
        refuse(code: code, error: error, message: message)
    }

    /// The `error` frame with the reason, then the close.
    func refuse(code: Int, error: String, message: String) {
        if let text = try? FleetJSON.encodeString(MasterMessage.error(.init(code: error, message: message))) { _ = write(text: text) }
        close(code: code, reason: message)
    }

    // MARK: Writing and closing

    /// One text frame to the agent; the future fails once the connection is closed.
    func write(text: String) -> EventLoopFuture<Void> {
        guard let context, !closeSent, !inactive else {
            return eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
        }
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        return context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: buffer)))
    }

    /// Sends our close frame (once) and cuts the connection if the agent does not answer
    /// within ``closeTimeout``.
    func close(code: Int, reason: String) {
        guard let context, !closeSent, !inactive else { return }
        closeSent = true
        if case .hello = phase { phase = .done }
        var buffer = context.channel.allocator.buffer(capacity: 2 + Self.maxCloseReasonBytes)
        buffer.write(webSocketErrorCode: WebSocketErrorCode(codeNumber: code))
        buffer.writeString(Self.trimmed(reason))
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: buffer)), promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        closeTimer = context.eventLoop.scheduleTask(in: Self.closeTimeout) { bound.value.close(promise: nil) }
    }

    /// The agent's close frame: the answer to ours, or its own close, echoed (RFC 6455 5.5.1);
    /// then the server closes the TCP connection.
    private func peerClosed(_ frame: WebSocketFrame) {
        guard let context else { return }
        if closeSent {
            context.close(promise: nil)
            return
        }
        closeSent = true
        var data = frame.unmaskedData
        var reply = context.channel.allocator.buffer(capacity: 2)
        if data.readableBytes >= 2, let code = data.readWebSocketErrorCode() { reply.write(webSocketErrorCode: code) }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: reply))).whenComplete { _ in
            bound.value.close(promise: nil)
        }
    }

    /// Every `pingInterval`: a ping, unless the last one is still unanswered; then the agent is
    /// gone (a half-open TCP connection) and the session closes.
    fileprivate func pingDue() {
        guard let context, !closeSent, !inactive else { return }
        if pingData != nil {
            close(code: 1001, reason: "ping not answered")
            return
        }
        var payload = context.channel.allocator.buffer(capacity: 8)
        payload.writeInteger(UInt64.random(in: .min ... .max))
        pingData = payload
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: payload)), promise: nil)
    }

    /// `reason` cut to what a close frame may carry, on a character boundary.
    static func trimmed(_ reason: String) -> String {
        var text = Substring(reason)
        while text.utf8.count > maxCloseReasonBytes { text = text.dropLast() }
        return String(text)
    }
}
