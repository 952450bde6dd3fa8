import FleetProtocol
import Logging
import ZeroMQ

/// The zguide "Streamer" device: a PULL that gateways feed jobs into and a PUSH that
/// callback-workers take them from, so gateways and workers never need to know each
/// other. Fair-queued on the way in, load-balanced on the way out; back-pressure passes
/// through because the PUSH waits at its HWM and then the PULL stops reading.
public final class Streamer: Sendable {
    private let input: ZMQSocket
    private let output: ZMQSocket
    private let logger: Logger
    /// The endpoints actually bound (with real ports).
    public let boundInput: String
    public let boundOutput: String

    /// - Parameter security: with CURVE, `input` admits gateways only and `output` workers
    ///   only (their ZAP domains `jobs_in` and `jobs_out`).
    public init(context: BusContext, input: String, output: String, security: BusSecurity, logger: Logger) throws {
        self.input = try context.zmq.socket(.pull)
        self.output = try context.zmq.socket(.push)
        self.logger = logger
        try BusTuning.apply(to: self.input, highWaterMark: BusTuning.jobHighWaterMark)
        try BusTuning.apply(to: self.output, highWaterMark: BusTuning.jobHighWaterMark)
        // Only hand a job to a worker whose connection is complete.
        try self.output.setImmediate(true)
        try security.serve(self.input, as: .jobsIn)
        try security.serve(self.output, as: .jobsOut)
        self.boundInput = try self.input.bind(input)
        self.boundOutput = try self.output.bind(output)
    }

    /// Forwards until the input socket closes or the task is cancelled.
    public func run() async {
        do {
            for await batch in try input.receiver(maxBatch: BusTuning.jobReceiveBatch, maxPendingBatches: BusTuning.jobPendingBatches) {
                for message in batch {
                    try await output.send(message)
                }
            }
        } catch is CancellationError {
        } catch {
            logger.error("job streamer stopped", metadata: ["error": "\(error)"])
        }
    }

    public var statistics: (input: BusStatistics, output: BusStatistics) {
        (BusStatistics(input.statistics), BusStatistics(output.statistics))
    }
}
