import FleetProtocol
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// One simulated agent: a raw NIO channel (no task, no actor per agent, so a bench process
/// holds tens of thousands) that speaks the real protocol: WebSocket upgrade with the enrollment
/// token, `hello`, `heartbeat` every interval with a realistic snapshot, answers `callback`s
/// through the swarm's HTTP client, answers pings, and reconnects with full-jitter backoff
/// (the same rule as the real agent) when the gateway goes away.
final class SimulatedAgent: @unchecked Sendable {
    // @unchecked Sendable: every mutable field is touched only on `eventLoop` (all entry points
    // are channel-handler callbacks or tasks scheduled on that loop).
    let id: String
    let index: Int
    let eventLoop: any EventLoop
    private unowned let swarm: Swarm

    private var channel: (any Channel)?
    private var heartbeatTask: RepeatedTask?
    private var connectStarted: NIODeadline = .now()
    private var welcomed = false
    private var attempt = 0
    private var seq: UInt64 = 0
    private var stopping = false
    /// The agent's own credential, made before its first session and sent beside the
    /// enrollment token on every session, as the real agent does (`AgentSecret`): a welcome
    /// lost in an overload run never locks the id out.
    private var credential: String? = AgentSecret.make()
    /// Which gateway URL (index into the swarm's list) this agent uses now.
    private(set) var gatewayIndex: Int
    private(set) var sessionGateway: String = ""

    init(id: String, index: Int, eventLoop: any EventLoop, swarm: Swarm) {
        self.id = id
        self.index = index
        self.eventLoop = eventLoop
        self.swarm = swarm
        gatewayIndex = index % swarm.settings.gateways.count
    }

    // MARK: Connection

    func connect() {
        eventLoop.assertInEventLoop()
        guard !stopping else { return }
        connectStarted = .now()
        welcomed = false
        let gateway = swarm.settings.gateways[gatewayIndex]
        let source = swarm.settings.sourceAddresses.isEmpty ? nil : swarm.settings.sourceAddresses[index % swarm.settings.sourceAddresses.count]
        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(10))
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
        if let source, let address = try? SocketAddress(ipAddress: source, port: 0) {
            bootstrap = bootstrap.bind(to: address)
        }
        let token = swarm.settings.token
        let credential = self.credential
        let tlsContext = gateway.tls ? swarm.tlsContext : nil
        bootstrap = bootstrap.channelInitializer { [self] channel in
            if let tlsContext {
                do {
                    let handler = try NIOSSLClientHandler(context: tlsContext, serverHostname: gateway.host)
                    try channel.pipeline.syncOperations.addHandler(handler)
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            let requester = UpgradeRequester(
                host: gateway.host, port: gateway.port, path: gateway.path, token: token, credential: credential, agent: self
            )
            let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: 1 << 20, automaticErrorHandling: true) { [self] channel, _ in
                channel.pipeline.addHandler(AgentFrameHandler(agent: self))
            }
            return channel.pipeline.addHTTPClientHandlers(
                withClientUpgrade: (upgraders: [upgrader], completionHandler: { context in
                    context.pipeline.removeHandler(requester, promise: nil)
                })
            ).flatMap { channel.pipeline.addHandler(requester) }
        }
        swarm.counters.connecting.add(1, ordering: .relaxed)
        bootstrap.connect(host: gateway.host, port: gateway.port).whenComplete { [self] result in
            swarm.counters.connecting.subtract(1, ordering: .relaxed)
            switch result {
            case .success(let channel):
                self.channel = channel
                channel.closeFuture.whenComplete { [self] _ in closed() }
                // A gateway that accepts but never welcomes (overloaded, or its bus stalled)
                // must not hold the agent: give up on this attempt as the real agent does.
                channel.eventLoop.scheduleTask(in: swarm.settings.handshakeTimeout) { [self] in
                    guard !welcomed, self.channel === channel else { return }
                    swarm.counters.handshakeTimeouts.add(1, ordering: .relaxed)
                    channel.close(promise: nil)
                }
            case .failure:
                swarm.counters.connectFailures.add(1, ordering: .relaxed)
                scheduleReconnect()
            }
        }
    }

    /// Close cleanly (1000) and do not come back.
    func stop() {
        eventLoop.assertInEventLoop()
        stopping = true
        heartbeatTask?.cancel()
        guard let channel else { return }
        var data = channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: .normalClosure)
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data), promise: nil)
        // The gateway answers the close once it has read everything before it; a close of our
        // own first would reset the connection and take what it has not read yet with it (on
        // a saturated box that can be seconds of beats), which would be the bench's loss.
        channel.eventLoop.scheduleTask(in: .seconds(15)) { channel.close(promise: nil) }
    }

    /// Drop the TCP connection without a goodbye, as a crashed host would.
    func drop() {
        eventLoop.assertInEventLoop()
        stopping = true
        heartbeatTask?.cancel()
        channel?.close(promise: nil)
    }

    private func closed() {
        heartbeatTask?.cancel()
        heartbeatTask = nil
        channel = nil
        if welcomed {
            swarm.counters.online.subtract(1, ordering: .relaxed)
            swarm.counters.sessionsLost.add(1, ordering: .relaxed)
        }
        welcomed = false
        swarm.counters.disconnects.add(1, ordering: .relaxed)
        scheduleReconnect()
    }

    private func scheduleReconnect() {
        guard !stopping else { return }
        attempt += 1
        // Full jitter (the real agent's rule): uniform in [0, min(cap, base * 2^attempt)], and
        // alternate gateways so a dead one does not hold an agent.
        let ceiling = min(swarm.settings.backoffCap, swarm.settings.backoffBase * pow(2, Double(min(attempt, 20))))
        let delay = Double.random(in: 0...ceiling)
        if attempt > 1, swarm.settings.gateways.count > 1 { gatewayIndex = (gatewayIndex + 1) % swarm.settings.gateways.count }
        eventLoop.scheduleTask(in: .nanoseconds(Int64(delay * 1e9))) { [self] in connect() }
    }

    func upgradeFailed() {
        swarm.counters.upgradeFailures.add(1, ordering: .relaxed)
    }

    // MARK: Frames

    func upgraded(_ context: ChannelHandlerContext) {
        send(try! swarm.payload.hello(id: id, index: index), context: context)
    }

    func received(_ message: MasterMessage, context: ChannelHandlerContext) {
        switch message {
        case .welcome(let welcome):
            if let issued = welcome.credential { credential = issued }
            welcomed = true
            attempt = 0
            sessionGateway = welcome.gatewayId
            let elapsed = NIODeadline.now() - connectStarted
            swarm.recordHandshake(nanoseconds: elapsed.nanoseconds)
            swarm.counters.online.add(1, ordering: .relaxed)
            swarm.counters.welcomes.add(1, ordering: .relaxed)
            startHeartbeats(context: context)
        case .callback(let callback):
            swarm.counters.callbacks.add(1, ordering: .relaxed)
            swarm.reply(to: callback, gateway: swarm.settings.gateways[gatewayIndex], seq: nextSeq())
        case .error:
            swarm.counters.errorFrames.add(1, ordering: .relaxed)
        }
    }

    private func nextSeq() -> UInt64 {
        seq += 1
        return seq
    }

    /// The swarm's heartbeat interval changed: beat at the new one from now on (on the loop).
    func intervalChanged() {
        guard welcomed, let channel, channel.isActive else { return }
        heartbeatTask?.cancel()
        heartbeatTask = nil
        startHeartbeats()
    }

    private func startHeartbeats(context: ChannelHandlerContext) { startHeartbeats() }

    private func startHeartbeats() {
        let interval = swarm.heartbeatInterval
        guard interval > .zero, let channel else { return }
        // Spread the first beat over one interval, so N agents do not beat in lockstep.
        let first = TimeAmount.nanoseconds(Int64.random(in: 0...max(1, interval.nanoseconds)))
        heartbeatTask = channel.eventLoop.scheduleRepeatedTask(initialDelay: first, delay: interval) { [self] _ in
            guard let channel = self.channel, channel.isActive else { return }
            let text = swarm.payload.heartbeat(seq: nextSeq(), at: Date())
            var buffer = channel.allocator.buffer(capacity: text.utf8.count)
            buffer.writeString(text)
            // Counted once it is written to the socket: a beat still buffered when the
            // connection goes was never sent.
            let counters = swarm.counters
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: buffer)).whenSuccess {
                counters.heartbeats.add(1, ordering: .relaxed)
            }
        }
    }

    private func send(_ text: String, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        context.writeAndFlush(NIOAny(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: buffer)), promise: nil)
    }
}

/// Sends the upgrade request once the TCP connection is up.
private final class UpgradeRequester: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    // @unchecked Sendable: lives in one channel's pipeline, used on its event loop only.
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let host: String, port: Int, path: String, token: String
    let credential: String?
    let agent: SimulatedAgent

    init(host: String, port: Int, path: String, token: String, credential: String?, agent: SimulatedAgent) {
        self.host = host
        self.port = port
        self.path = path
        self.token = token
        self.credential = credential
        self.agent = agent
    }

    func channelActive(context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "X-Fleet-Agent-Id", value: agent.id)
        if let credential {
            headers.add(name: "Authorization", value: "Bearer \(credential)")
            headers.add(name: "X-Fleet-Enrollment-Token", value: token)
        } else {
            headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        headers.add(name: "Content-Length", value: "0")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A response that reaches us was not an upgrade (401, 403, 400…).
        if case .head = unwrapInboundIn(data) { agent.upgradeFailed() }
        if case .end = unwrapInboundIn(data) { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        agent.upgradeFailed()
        context.close(promise: nil)
    }
}

/// The WebSocket side: text frames in, pings answered, close answered.
private final class AgentFrameHandler: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable: lives in one channel's pipeline, used on its event loop only.
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let agent: SimulatedAgent
    private var pending: ByteBuffer?

    init(agent: SimulatedAgent) { self.agent = agent }

    func handlerAdded(context: ChannelHandlerContext) {
        agent.upgraded(context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .continuation:
            var payload = frame.unmaskedData
            if pending != nil { pending!.writeBuffer(&payload) } else { pending = payload }
            guard frame.fin, let whole = pending else { return }
            pending = nil
            if let message = try? FleetJSON.decode(MasterMessage.self, from: whole.readableBytesView) {
                agent.received(message, context: context)
            }
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readWebSocketErrorCode()
            if code.map({ $0 != .normalClosure && $0 != .goingAway }) ?? false {
                agent.upgradeFailed()
            }
            var reply = context.channel.allocator.buffer(capacity: 2)
            reply.write(webSocketErrorCode: .normalClosure)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: reply)))
                .whenComplete { _ in channel.close(promise: nil) }
        default:
            break
        }
    }
}
