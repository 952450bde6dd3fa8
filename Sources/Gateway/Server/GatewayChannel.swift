import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore

/// The gateway's child channel: Hummingbird's HTTP/1 channel with WebSocket upgrade, behind
/// a `HeadTimeoutHandler`. A `ServerChildChannel` of its own because Hummingbird builds
/// pipelines inside its package; wrapping the channel is the public way in, and TLS
/// (`HTTPServerBuilder.tls`) still wraps this builder as it would the stock one.
struct GatewayChannel: ServerChildChannel {
    typealias Value = HTTP1WebSocketUpgradeChannel.Value
    let inner: HTTP1WebSocketUpgradeChannel
    let headTimeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(HeadTimeoutHandler(timeout: headTimeout))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }

    /// The server builder: HTTP/1 + WebSocket upgrade answered by `router`, idle HTTP
    /// connections closed after `idleTimeout`, every new connection given `headTimeout`.
    static func builder<Router: HTTPResponderBuilder>(
        webSocketRouter router: Router, ws: WebSocketServerConfiguration, idleTimeout: TimeAmount, headTimeout: TimeAmount
    ) -> HTTPServerBuilder where Router.Responder.Context: WebSocketRequestContext {
        let responder = router.buildResponder()
        return HTTPServerBuilder { httpResponder in
            GatewayChannel(
                inner: HTTP1WebSocketUpgradeChannel(
                    responder: httpResponder, webSocketResponder: responder,
                    configuration: .init(http1: .init(idleTimeout: idleTimeout), ws: ws)
                ),
                headTimeout: headTimeout
            )
        }
    }
}
