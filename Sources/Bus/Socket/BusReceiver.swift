import FleetProtocol
import ZeroMQ

/// The receiving end of a PUSH/PULL pair: the registry's `events` and `blobs`, a worker's
/// `jobs_out`. Built by the Bus with its tuning and security, read by the roles as batches of
/// ``BusMessage`` (the ZeroMQ wrapper's receive thread, its back-pressure and batching, below).
public final class BusReceiver: Sendable {
    private let socket: ZMQSocket
    /// Where it is bound or connected (the real port when `*` was asked for).
    public let endpoint: String

    private init(socket: ZMQSocket, endpoint: String) {
        self.socket = socket
        self.endpoint = endpoint
    }

    /// A PULL bound at `endpoint`, a CURVE server for `role` when keys are on.
    /// - Parameter receivesUserId: read each message's ZAP `User-Id` (the events socket, for
    ///   the role policy; off elsewhere so the hot path reads no metadata).
    public static func bind(
        _ endpoint: String, context: BusContext, security: BusSecurity, as role: BusSocket, highWaterMark: Int32,
        receivesUserId: Bool = false
    ) throws -> BusReceiver {
        let socket = try context.zmq.socket(.pull)
        try BusTuning.apply(to: socket, highWaterMark: highWaterMark)
        try security.serve(socket, as: role)
        socket.setReceivesUserId(receivesUserId)
        return BusReceiver(socket: socket, endpoint: try socket.bind(endpoint))
    }

    /// A PULL connected to `endpoint` (a CURVE client of the registry when keys are on).
    public static func connect(_ endpoint: String, context: BusContext, security: BusSecurity, highWaterMark: Int32) throws -> BusReceiver {
        let socket = try context.zmq.socket(.pull)
        try BusTuning.apply(to: socket, highWaterMark: highWaterMark)
        try security.connect(socket)
        try socket.connect(endpoint)
        return BusReceiver(socket: socket, endpoint: endpoint)
    }

    /// The messages, in batches as they were drained (one consumer only).
    public func batches(maxBatch: Int = 1024, maxPendingBatches: Int = 16) throws -> some AsyncSequence<[BusMessage], Never> {
        try socket.receiver(maxBatch: maxBatch, maxPendingBatches: maxPendingBatches).map { batch in batch.map(BusMessage.init) }
    }

    public var statistics: BusStatistics { BusStatistics(socket.statistics) }
}
