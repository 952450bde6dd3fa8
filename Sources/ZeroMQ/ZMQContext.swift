import CZeroMQ
import Dispatch
import Synchronization

/// A ZeroMQ context: owns libzmq's I/O threads and every socket made from it.
///
/// libzmq contexts are thread-safe, sockets are not (see `ZMQSocket`). The context keeps
/// track of its open sockets so that `shutdown()` can close them all and then terminate,
/// which is what makes a graceful exit lose nothing: `zmq_ctx_term` blocks until every
/// socket's queued outbound messages are flushed (or its linger expires). Swift never runs
/// `deinit` for globals at exit, so callers must `await shutdown()` explicitly.
public final class ZMQContext: Sendable {
    /// libzmq's context handle; only touched through thread-safe libzmq calls.
    private let handle: UnsafeSendableRaw
    private let state = Mutex(State())
    /// Linger applied to new sockets, in milliseconds: how long a graceful close may wait
    /// for queued messages to leave.
    public let defaultLingerMilliseconds: Int32
    /// A small integer unique to this context, used to name its threads (`ZMQbg` I/O threads
    /// get it as a prefix) so tests and operators can tell which context a thread belongs to.
    public let threadNamePrefix: Int32

    private struct State {
        var sockets: [ObjectIdentifier: ZMQSocket] = [:]
        var terminated = false
    }

    private static let counter = Atomic<Int32>(0)

    /// - Parameters:
    ///   - ioThreads: libzmq I/O threads. One is plenty below ~1 GB/s of traffic.
    ///   - lingerMilliseconds: default linger for sockets made from this context.
    public init(ioThreads: Int32 = 1, lingerMilliseconds: Int32 = 5_000) {
        guard let raw = zmq_ctx_new() else {
            fatalError("zmq_ctx_new failed: \(ZMQError.last("zmq_ctx_new"))")
        }
        self.handle = UnsafeSendableRaw(raw)
        self.defaultLingerMilliseconds = lingerMilliseconds
        self.threadNamePrefix = Self.counter.add(1, ordering: .relaxed).newValue
        zmq_ctx_set(raw, ZMQ_IO_THREADS, ioThreads)
        zmq_ctx_set(raw, ZMQ_THREAD_NAME_PREFIX, threadNamePrefix)
        // Lifts the 1024-socket default; each socket costs a few KB only when created.
        zmq_ctx_set(raw, ZMQ_MAX_SOCKETS, 16_384)
    }

    /// Creates a socket of `type` owned by this context.
    public func socket(_ type: SocketType) throws -> ZMQSocket {
        try state.withLock { state in
            guard !state.terminated else { throw ZMQError.closed }
            guard let raw = zmq_socket(handle.raw, type.raw) else {
                throw ZMQError.last("zmq_socket \(type)")
            }
            let socket = ZMQSocket(raw: raw, type: type, context: self)
            try socket.setOption(ZMQ_LINGER, defaultLingerMilliseconds)
            state.sockets[ObjectIdentifier(socket)] = socket
            return socket
        }
    }

    func forget(_ socket: ZMQSocket) {
        _ = state.withLock { $0.sockets.removeValue(forKey: ObjectIdentifier(socket)) }
    }

    /// Number of sockets still open (for tests and metrics).
    public var openSocketCount: Int { state.withLock { $0.sockets.count } }

    /// Closes every open socket (stopping their receive threads), then terminates the
    /// context. Returns once libzmq has flushed what was queued (bounded by each socket's
    /// linger) and its background threads have exited. Idempotent.
    public func shutdown() async {
        let sockets: [ZMQSocket] = state.withLock { state in
            let all = Array(state.sockets.values)
            return all
        }
        for socket in sockets {
            await socket.close()
        }
        let alreadyTerminated = state.withLock { state in
            defer { state.terminated = true }
            return state.terminated
        }
        if alreadyTerminated { return }
        // zmq_ctx_term blocks for up to the longest linger: run it on a dispatch thread so
        // no thread of Swift's cooperative pool is held.
        let raw = handle
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                while zmq_ctx_term(raw.raw) != 0 && zmq_errno() == EINTR_CODE {}
                continuation.resume()
            }
        }
    }
}

/// A raw pointer that libzmq documents as safe to use from any thread (a context), or
/// that we only ever touch under a lock (a socket). Wrapping it lets it cross isolation
/// boundaries; each use site states which of the two rules applies.
struct UnsafeSendableRaw: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer
    init(_ raw: UnsafeMutableRawPointer) { self.raw = raw }
}
