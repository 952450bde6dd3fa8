import FleetProtocol
import Logging
import ZeroMQ

/// The PUSH side of `jobs_in`, used by gateways to hand agents' replies to the workers
/// through the registry's streamer. Waits (asynchronously) at the HWM: a reply the gateway
/// has acknowledged must not be dropped.
public final class JobSender: Sendable {
    private let socket: ZMQSocket

    public init(context: ZMQContext, endpoint: String) throws {
        self.socket = try context.socket(.push)
        try BusTuning.apply(to: socket, highWaterMark: BusTuning.taskHighWaterMark)
        try socket.connect(endpoint)
    }

    public func send(_ header: CallbackJobHeader, body: [UInt8]) async throws {
        try await socket.send([Array(CallbackJobHeader.kind.utf8), try FleetJSON.encode(header), body])
    }

    public var statistics: ZMQSocket.Statistics { socket.statistics }
}
