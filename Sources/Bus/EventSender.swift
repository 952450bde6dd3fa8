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

    public init(context: BusContext, endpoint: String, security: BusSecurity, logger: Logger) throws {
        self.socket = try context.zmq.socket(.push)
        self.logger = logger
        try BusTuning.apply(to: socket, highWaterMark: BusTuning.eventHighWaterMark)
        try security.connect(socket)
        try socket.connect(endpoint)
    }

    /// Sends `event`, waiting (asynchronously) if the queue to the registry is full.
    public func send(_ event: BusEvent) async throws {
        try await socket.send(try event.frames())
    }

    /// Sends `event` if the queue to the registry has room now; false when it is full (the
    /// caller keeps it). Never waits.
    public func offer(_ event: BusEvent) -> Bool {
        do {
            return try socket.offer(ZMQMessage(try event.frames()))
        } catch {
            logger.warning("bus event not sent", metadata: ["kind": "\(event.kind)", "error": "\(error)"])
            return true  // not for want of room: offering it again would not help
        }
    }

    /// Sends a batch of heartbeats if the queue has room now; false when it is full.
    public func offer(heartbeats batch: HeartbeatBatch) -> Bool {
        do {
            return try socket.offer(ZMQMessage(batch.frames()))
        } catch {
            logger.warning("bus event not sent", metadata: ["kind": "\(HeartbeatBatch.kind)", "error": "\(error)"])
            return true
        }
    }

    /// Sends `event` if it can go now; drops it (counted) otherwise. For periodic beats.
    public func trySend(_ event: BusEvent) {
        do {
            if try !socket.trySend(ZMQMessage(try event.frames())) {
                logger.debug("bus event dropped at HWM", metadata: ["kind": "\(event.kind)"])
            }
        } catch {
            logger.warning("bus event not sent", metadata: ["kind": "\(event.kind)", "error": "\(error)"])
        }
    }

    public var statistics: BusStatistics { BusStatistics(socket.statistics) }
}

extension BusEvent {
    /// Decodes a message received on the `events` socket.
    public init(message: BusMessage) throws {
        try self.init(frames: message.frames)
    }
}
