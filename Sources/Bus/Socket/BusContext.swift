import ZeroMQ

/// The bus's context: every bus socket of a process belongs to one. The roles hold this and
/// never a ZeroMQ type (the module graph is commands -> roles -> Bus -> ZeroMQ).
public final class BusContext: Sendable {
    let zmq: ZMQContext

    /// - Parameter lingerMilliseconds: how long a graceful close may wait for queued messages.
    public init(lingerMilliseconds: Int32 = 5_000) {
        self.zmq = ZMQContext(lingerMilliseconds: lingerMilliseconds)
    }

    /// Wraps a context made elsewhere (tests of the wrapper itself).
    public init(_ zmq: ZMQContext) {
        self.zmq = zmq
    }

    /// Stops every receive thread, closes every socket with its linger, and terminates the
    /// context: queued messages are flushed before a role exits.
    public func shutdown() async {
        await zmq.shutdown()
    }

    /// A small integer unique to this context: its threads are named with it.
    public var threadNamePrefix: Int32 { zmq.threadNamePrefix }
}
