import CZeroMQ
import Dispatch
import Synchronization

/// A ZeroMQ socket that can be shared between tasks.
///
/// libzmq sockets are not thread-safe, so every libzmq call on the socket happens under
/// `lock`. Two rules keep Swift's cooperative thread pool free:
/// - sends use `ZMQ_DONTWAIT`; on `EAGAIN` (HWM reached) the *task* sleeps and retries,
///   no thread blocks in libzmq (see `ZMQSocket+Send.swift`);
/// - receiving happens on one dedicated thread per socket that waits on the socket's
///   `ZMQ_FD` *without* the lock, then drains under the lock and hands messages to async
///   code in batches (see `ZMQReceiver`).
public final class ZMQSocket: Sendable {
    public let type: SocketType
    let lock: Mutex<Handle>
    private let receiverSlot = Mutex<ZMQReceiver?>(nil)
    let context: ZMQContext
    let counters = Counters()
    /// Whether received messages get their connection's ZAP `User-Id` (see `setReceivesUserId`).
    let readsUserId = Atomic<Bool>(false)

    /// The raw handle, only valid while the lock is held; nil once closed.
    /// `@unchecked Sendable`: the pointer is only ever dereferenced by libzmq calls made
    /// inside `lock.withLock`, which is exactly the one-thread-at-a-time rule libzmq needs.
    struct Handle: @unchecked Sendable {
        var raw: UnsafeMutableRawPointer?
    }

    init(raw: UnsafeMutableRawPointer, type: SocketType, context: ZMQContext) {
        self.type = type
        self.lock = Mutex(Handle(raw: raw))
        self.context = context
    }

    /// Runs `body` with the open socket under the lock.
    @discardableResult
    func withRaw<T>(_ operation: @autoclosure () -> String, _ body: (UnsafeMutableRawPointer) throws -> T) throws -> T {
        try lock.withLock { handle in
            guard let raw = handle.raw else { throw ZMQError(code: ETERM_CODE, operation: operation()) }
            return try body(raw)
        }
    }

    /// Binds to `endpoint` (`tcp://host:port`, `tcp://127.0.0.1:*` for a free port, `inproc://name`,
    /// `ipc://path`) and returns the endpoint actually bound, with the real port.
    @discardableResult
    public func bind(_ endpoint: String) throws -> String {
        try withRaw("bind \(endpoint)") { raw in
            guard zmq_bind(raw, endpoint) == 0 else { throw ZMQError.last("bind \(endpoint)") }
        }
        return (try? lastEndpoint()) ?? endpoint
    }

    /// Connects to `endpoint`. ZeroMQ connects lazily and reconnects on its own.
    public func connect(_ endpoint: String) throws {
        try withRaw("connect \(endpoint)") { raw in
            guard zmq_connect(raw, endpoint) == 0 else { throw ZMQError.last("connect \(endpoint)") }
        }
    }

    public func disconnect(_ endpoint: String) throws {
        try withRaw("disconnect \(endpoint)") { raw in
            guard zmq_disconnect(raw, endpoint) == 0 else { throw ZMQError.last("disconnect \(endpoint)") }
        }
    }

    /// Whether `close()` has run.
    public var isClosed: Bool { lock.withLock { $0.raw == nil } }

    /// Stops the receive thread (if any) and closes the socket. Queued outbound messages
    /// are still delivered by libzmq for up to the socket's linger; `ZMQContext.shutdown()`
    /// waits for that. Idempotent.
    public func close() async {
        let receiver = receiverSlot.withLock { slot -> ZMQReceiver? in
            defer { slot = nil }
            return slot
        }
        if let receiver {
            await receiver.stopAndJoin()
        }
        lock.withLock { handle in
            if let raw = handle.raw {
                // Receive-only sockets have nothing of value outbound: a SUB's queued
                // subscription to a publisher that is already gone would otherwise hold
                // zmq_ctx_term for the whole linger while it tries to reconnect.
                if type == .sub || type == .pull {
                    var zero: Int32 = 0
                    zmq_setsockopt(raw, ZMQ_LINGER, &zero, MemoryLayout<Int32>.size)
                }
                zmq_close(raw)
                handle.raw = nil
            }
        }
        context.forget(self)
    }

    /// Starts (once) the dedicated receive thread and returns the stream of message batches.
    ///
    /// - Parameters:
    ///   - maxBatch: messages handed over at most per batch; batching is what keeps the
    ///     thread-to-task hand-off cheap (one hand-off per message measured 5x slower).
    ///   - maxPendingBatches: batches the thread may queue before it stops reading and lets
    ///     libzmq's own HWM push back on the sender. Nothing is dropped here.
    public func receiver(maxBatch: Int = 1024, maxPendingBatches: Int = 16) throws -> ZMQReceiver {
        precondition(type.canReceive, "\(type) sockets cannot receive")
        return try receiverSlot.withLock { slot in
            if let existing = slot { return existing }
            let fd = try fileDescriptor()
            let receiver = ZMQReceiver(
                socket: self, fd: fd, maxBatch: maxBatch, maxPendingBatches: maxPendingBatches,
                threadName: "zmq-rx-\(context.threadNamePrefix)"
            )
            slot = receiver
            receiver.start()
            return receiver
        }
    }

    /// After a send (or any other call that may process the socket's incoming commands), the
    /// receive thread must look again: the edge on `ZMQ_FD` may have been consumed here.
    func pokeReceiver() {
        receiverSlot.withLock { $0 }?.poke()
    }

    /// Receives one message without waiting; nil when none is queued.
    /// Used by the receive thread; callers normally use `receiver()`.
    func receiveNow() throws -> ZMQMessage? {
        let withUserId = readsUserId.load(ordering: .relaxed)
        return try withRaw("recv") { raw in
            try Self.receiveLocked(raw, withUserId: withUserId)
        }
    }

    static func receiveLocked(_ raw: UnsafeMutableRawPointer, withUserId: Bool = false) throws -> ZMQMessage? {
        var frames: [[UInt8]] = []
        var userId: String?
        var part = zmq_msg_t()
        zmq_msg_init(&part)
        defer { zmq_msg_close(&part) }
        while true {
            let rc = zmq_msg_recv(&part, raw, ZMQ_DONTWAIT)
            if rc < 0 {
                let code = zmq_errno()
                if code == EAGAIN_CODE && frames.isEmpty { return nil }
                if code == EINTR_CODE { continue }
                throw ZMQError(code: code, operation: "recv")
            }
            let size = zmq_msg_size(&part)
            if size == 0 {
                frames.append([])
            } else {
                let data = zmq_msg_data(&part)!
                frames.append(Array(UnsafeRawBufferPointer(start: data, count: size)))
            }
            // Metadata belongs to the connection, so every part carries the same: read it
            // once, from the first, while `part` still holds it.
            if withUserId && frames.count == 1, let value = zmq_msg_gets(&part, "User-Id") {
                userId = String(cString: value)
            }
            // Multipart messages arrive atomically: once the first frame is here, the rest are.
            if zmq_msg_more(&part) == 0 { break }
        }
        return ZMQMessage(frames, userId: userId)
    }

    /// Counters kept for metrics: what moved and what had to wait or was dropped.
    final class Counters: Sendable {
        let sent = Atomic<UInt64>(0)
        let received = Atomic<UInt64>(0)
        let sendRetries = Atomic<UInt64>(0)
        let dropped = Atomic<UInt64>(0)
    }

    /// A point-in-time copy of the socket's counters.
    public struct Statistics: Sendable, Equatable {
        public var sent: UInt64
        public var received: UInt64
        /// Sends that found the HWM reached and had to wait.
        public var sendRetries: UInt64
        /// Messages given up by `trySend` because the HWM was reached.
        public var dropped: UInt64
    }

    public var statistics: Statistics {
        Statistics(
            sent: counters.sent.load(ordering: .relaxed),
            received: counters.received.load(ordering: .relaxed),
            sendRetries: counters.sendRetries.load(ordering: .relaxed),
            dropped: counters.dropped.load(ordering: .relaxed)
        )
    }
}
