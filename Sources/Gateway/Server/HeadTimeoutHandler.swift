import Metrics
import NIOCore

/// Closes a connection that has not sent a whole HTTP request head within `timeout` of
/// being accepted: a client that connects and sends nothing, or trickles its headers a
/// byte at a time (slowloris), must not hold a socket and a file descriptor for ever.
///
/// Hummingbird's own idle timeout starts only once a first request has been read (and its
/// WebSocket upgrade path has none), so this sits at the front of every connection's
/// pipeline (after TLS, so it sees plain bytes; a stalled TLS handshake runs into the same
/// deadline) and removes itself at the first blank line that ends a head.
final class HeadTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    /// The last bytes seen, so a `\r\n\r\n` split across reads is still found.
    private var tail: [UInt8] = []
    private var done = false

    static let closed = Counter(label: "fleet_gateway_connections_timed_out_total", dimensions: [("phase", "request_head")])

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            Self.closed.increment()
            loopBound.value.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else {
            context.fireChannelRead(data)
            return
        }
        let view = unwrapInboundIn(data).readableBytesView
        if Self.endsHead(tail + view) {
            done = true
            timer?.cancel()
            timer = nil
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        tail = Array((tail + view.suffix(3)).suffix(3))
        context.fireChannelRead(data)
    }

    /// Whether `bytes` contain the blank line (`\r\n\r\n`) that ends an HTTP head.
    static func endsHead(_ bytes: some Collection<UInt8>) -> Bool {
        var state = 0
        for byte in bytes {
            switch (state, byte) {
            case (0, 13), (2, 13): state += 1
            case (1, 10), (3, 10): state += 1
            case (_, 13): state = 1
            default: state = 0
            }
            if state == 4 { return true }
        }
        return false
    }
}
