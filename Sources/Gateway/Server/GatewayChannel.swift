import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// The gateway's child channel: HTTP/1 for the REST API and the dashboard (Hummingbird's
/// router, as `HTTP1Channel` serves it), and the agents' WebSocket upgrade on `wsPath`,
/// after which the connection is served by channel handlers (``AgentSocketHandler``), with
/// no task for it. A `HeadTimeoutHandler` stands in front of both. TLS
/// (`HTTPServerBuilder.tls`) wraps this builder as it would the stock one.
///
/// Hummingbird's `HTTP1WebSocketUpgradeChannel` is the model (same upgrade configuration);
/// it hands an upgraded socket to a task through `NIOAsyncChannel`, which is what a fleet of
/// mostly idle sockets cannot afford (bench/RESULTS.md: 32 KB of task stacks per agent).
struct GatewayChannel: ServerChildChannel, HTTPChannelHandler {
    enum Upgrade: Sendable {
        /// An agent's WebSocket, served by its handlers.
        case agent
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// An upgrade that was refused (another path): an empty 400, then the close.
        case failed(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
    }

    struct Value: ServerChildChannelValue {
        let upgrade: EventLoopFuture<Upgrade>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    let agents: AgentSocketAcceptor
    let idleTimeout: TimeAmount
    let headTimeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(HeadTimeoutHandler(timeout: headTimeout))
            let attempted = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
            let decision = NIOLoopBoundBox<AgentAuthenticator.Decision?>(nil, eventLoop: channel.eventLoop)
            let agents = self.agents
            let upgrader = NIOTypedWebSocketServerUpgrader<Upgrade>(
                maxFrameSize: agents.services.settings.maxFrameBytes,
                shouldUpgrade: { channel, head in
                    attempted.value = true
                    decision.value = agents.decide(head)
                    return channel.eventLoop.makeSucceededFuture(decision.value == nil ? nil : HTTPHeaders())
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        guard let decided = decision.value else { throw ChannelError.inappropriateOperationForState }
                        try agents.install(on: channel, decision: decided)
                        return .agent
                    }
                }
            )
            let idle = Duration(idleTimeout)
            let upgradeConfiguration = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: idle, logger: logger))
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        return attempted.value ? .failed(asyncChannel) : .http(asyncChannel)
                    }
                }
            )
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<Upgrade>(upgradeConfiguration: upgradeConfiguration)
            configuration.enablePipelining = false  // HTTP is pipelined by NIOAsyncChannel
            configuration.enableErrorHandling = false  // Hummingbird answers errors
            configuration.enableResponseHeaderValidation = false  // Swift HTTP Types validate
            let upgrade = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            return Value(upgrade: upgrade, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgrade.get() {
            case .agent:
                return  // the channel's handlers serve it from here; this task ends
            case .http(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .failed(let http):
                try await http.executeThenClose { _, outbound in
                    try await outbound.write(contentsOf: [
                        .head(HTTPResponse(status: .badRequest, headerFields: [.connection: "close", .contentLength: "0"])), .end(nil),
                    ])
                }
            }
        } catch let error as ChannelError where error == .inputClosed {
            logger.trace("connection closed before its first request")
        } catch {
            logger.debug("connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// The server builder: the router's HTTP and the agents' upgrade, idle HTTP connections
    /// closed after `idleTimeout`, every new connection given `headTimeout`.
    static func builder(agents: AgentSocketAcceptor, idleTimeout: TimeAmount, headTimeout: TimeAmount) -> HTTPServerBuilder {
        HTTPServerBuilder { httpResponder in
            GatewayChannel(
                responder: upgradeOnlyFirst(httpResponder), agents: agents, idleTimeout: idleTimeout, headTimeout: headTimeout
            )
        }
    }

    /// NIO upgrades only a connection's first request. An upgrade asked for later on a
    /// kept-alive connection is answered, as Hummingbird does, with a redirect to the same
    /// URI and the close, so the client retries on a fresh connection where the upgrade runs.
    static func upgradeOnlyFirst(_ responder: @escaping HTTPChannelHandler.Responder) -> HTTPChannelHandler.Responder {
        struct RedirectClose: Error {}
        return { request, writer, channel in
            guard request.headers[.upgrade]?.lowercased() == "websocket" else {
                try await responder(request, writer, channel)
                return
            }
            var path = request.uri.path
            if let query = request.uri.query { path += "?\(query)" }
            try await writer.writeResponse(HTTPResponse(status: .temporaryRedirect, headerFields: [.connection: "close", .location: path]))
            throw RedirectClose()
        }
    }
}
