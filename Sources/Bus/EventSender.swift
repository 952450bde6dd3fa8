import FleetProtocol
import Logging
import ZeroMQ

/// The PUSH side of the `events` socket, used by gateways and workers to tell the registry
/// what they observed.
///
/// Events that must arrive (session opened/closed, heartbeats) wait at the HWM rather than
/// drop: `send` applies back-pressure to the caller. `ZMQ_IMMEDIATE` keeps messages from
/// being parked on a connection that is not up yet; while the registry is down they queue
/// up to the HWM and flow when it returns.
public final class EventSender: Sendable {
    private let socket: ZMQSocket
    private let logger: Logger

    public init(context: ZMQContext, endpoint: String, security: BusSecurity, logger: Logger) throws {
        self.socket = try context.socket(.push)
        self.logger = logger
        try BusTuning.apply(to: socket, highWaterMark: BusTuning.taskHighWaterMark)
        try security.connect(socket)
        try socket.connect(endpoint)
    }

    /// Sends `event`, waiting (asynchronously) if the queue to the registry is full.
    public func send(_ event: BusEvent) async throws {
        try await socket.send([Array(event.kind.utf8), try event.encodedBody()])
    }

    /// Sends `event` if it can go now; drops it (counted) otherwise. For periodic beats.
    public func trySend(_ event: BusEvent) {
        do {
            if try !socket.trySend(ZMQMessage([Array(event.kind.utf8), try event.encodedBody()])) {
                logger.debug("bus event dropped at HWM", metadata: ["kind": "\(event.kind)"])
            }
        } catch {
            logger.warning("bus event not sent", metadata: ["kind": "\(event.kind)", "error": "\(error)"])
        }
    }

    public var statistics: ZMQSocket.Statistics { socket.statistics }
}

extension BusEvent {
    /// Decodes a message received on the `events` socket.
    public init(message: ZMQMessage) throws {
        guard message.frames.count == 2, let kind = message.string(at: 0) else {
            throw ProtocolError.malformed("bus event with \(message.frames.count) frames, expected [kind][body]")
        }
        try self.init(kind: kind, body: message.frames[1])
    }
}
