import FleetProtocol
import Logging
import ZeroMQ

/// A PUSH for jobs and file chunks: gateways -> `jobs_in` (to the workers through the
/// registry's streamer) and workers -> `blobs` (to the registry's store). Waits
/// (asynchronously) at the small HWM: what a gateway has acknowledged must not be dropped,
/// and waiting is how an upload is slowed to what the store can take.
public final class JobSender: Sendable {
    private let socket: ZMQSocket

    public init(context: BusContext, endpoint: String, security: BusSecurity) throws {
        self.socket = try context.zmq.socket(.push)
        try BusTuning.apply(to: socket, highWaterMark: BusTuning.jobHighWaterMark)
        try security.connect(socket)
        try socket.connect(endpoint)
    }

    /// An agent's JSON reply, for a worker.
    public func send(_ header: CallbackJobHeader, body: [UInt8]) async throws {
        try await socket.send([Array(CallbackJobHeader.kind.utf8), try FleetJSON.encode(header), body])
    }

    /// One chunk of an uploaded file, as `kind` (a job for a worker, or a blob for the registry).
    public func send(chunk header: ContentChunkHeader, kind: String, bytes: [UInt8]) async throws {
        try await socket.send([Array(kind.utf8), try FleetJSON.encode(header), bytes])
    }

    public var statistics: BusStatistics { BusStatistics(socket.statistics) }
}
