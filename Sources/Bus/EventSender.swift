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
    /// A gateway's heartbeat lane: a second PUSH to the same `events` endpoint, for heartbeat
    /// batches only. The registry's PULL fair-queues between the two pipes, so a session
    /// opening or closing, a request or an audit line never waits behind heartbeats, and the
    /// lane's own small HWM is what the heartbeat outbox coalesces on.
    private let heartbeatLane: ZMQSocket?
    private let logger: Logger

    public init(context: BusContext, endpoint: String, security: BusSecurity, logger: Logger, heartbeatLane: Bool = false) throws {
        self.socket = try context.zmq.socket(.push)
        self.logger = logger
        try BusTuning.apply(to: socket, highWaterMark: BusTuning.eventHighWaterMark)
        try security.connect(socket)
        try socket.connect(endpoint)
        if heartbeatLane {
            let lane = try context.zmq.socket(.push)
            try BusTuning.apply(to: lane, highWaterMark: BusTuning.heartbeatLaneHighWaterMark)
            try security.connect(lane)
            try lane.connect(endpoint)
            self.heartbeatLane = lane
        } else {
            self.heartbeatLane = nil
        }
    }

    /// Sends `event`, waiting (asynchronously) if the queue to the registry is full.
    public func send(_ event: BusEvent) async throws {
        try await socket.send(try event.frames())
    }

    /// Sends `event` if the queue to the registry has room now; false when it is full (the
    /// caller keeps it). Never waits.
    public func offer(_ event: BusEvent) -> Bool {
        offer(kind: event.kind, on: socket) { try event.frames() }
    }

    /// Sends a batch of heartbeats (on the heartbeat lane, if any) if the queue has room now;
    /// false when it is full.
    public func offer(heartbeats batch: HeartbeatBatch) -> Bool {
        offer(kind: HeartbeatBatch.kind, on: heartbeatLane ?? socket) { batch.frames() }
    }

    private func offer(kind: String, on socket: ZMQSocket, frames: () throws -> [[UInt8]]) -> Bool {
        do {
            return try socket.offer(ZMQMessage(try frames()))
        } catch {
            logger.warning("bus event not sent", metadata: ["kind": "\(kind)", "error": "\(error)"])
            return true  // not for want of room: offering it again would not help
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
    /// The heartbeat lane's, when there is one.
    public var heartbeatLaneStatistics: BusStatistics? { heartbeatLane.map { BusStatistics($0.statistics) } }
}

extension BusEvent {
    /// Decodes a message received on the `events` socket.
    public init(message: BusMessage) throws {
        try self.init(frames: message.frames)
    }
}
