import CZeroMQ
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The receiving side of a socket: one dedicated OS thread that reads the socket and hands
/// messages to async code in batches.
///
/// Why a thread: libzmq's receive calls are blocking C calls on a non-thread-safe socket;
/// parking one in Swift's cooperative pool (2 threads on a 2-core box) would stall every task.
/// Why batches: one `AsyncStream` hand-off per message measured ~0.3-0.6 M msg/s here, batches
/// of up to 1024 1.6-3.5 M msg/s.
///
/// Back-pressure: at most `maxPendingBatches` batches wait for the consumer. When they are all
/// taken the thread stops reading, libzmq's queue fills to its HWM, and the *sender* slows
/// down (PUSH/DEALER) or drops and counts (PUB). Nothing is dropped silently here.
///
/// Consume it from exactly one task.
public final class ZMQReceiver: AsyncSequence, Sendable {
    public typealias Element = [ZMQMessage]

    private let socket: ZMQSocket
    private let fd: Int32
    private let maxBatch: Int
    private let threadName: String
    private let stream: AsyncStream<[ZMQMessage]>
    private let continuation: AsyncStream<[ZMQMessage]>.Continuation
    /// Counts free slots for batches in flight between the thread and the consumer.
    private let capacity: DispatchSemaphore
    private let stopRequested = Atomic<Bool>(false)
    private let exited = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)

    /// How long the thread waits on the socket's fd before checking again. The fd is
    /// edge-triggered and a send on another thread can consume its signal, so this bound
    /// is also the worst-case extra latency in that rare case.
    private static let pollMilliseconds: Int32 = 10

    init(socket: ZMQSocket, fd: Int32, maxBatch: Int, maxPendingBatches: Int, threadName: String) {
        self.socket = socket
        self.fd = fd
        self.maxBatch = maxBatch
        self.threadName = threadName
        // Created at 0 and raised by signals: libdispatch traps when a semaphore is freed
        // with a value below the one it was created with, which a receiver stopped with
        // batches still in flight would otherwise be.
        self.capacity = DispatchSemaphore(value: 0)
        for _ in 0..<Swift.max(1, maxPendingBatches) { capacity.signal() }
        (self.stream, self.continuation) = AsyncStream.makeStream(of: [ZMQMessage].self, bufferingPolicy: .unbounded)
    }

    func start() {
        guard !started.exchange(true, ordering: .relaxed) else { return }
        startThread(name: threadName) { [self] in
            self.run()
        }
    }

    private func run() {
        defer {
            continuation.finish()
            exited.signal()
        }
        outer: while !stopRequested.load(ordering: .relaxed) {
            var batch: [ZMQMessage] = []
            do {
                while batch.count < maxBatch, let message = try socket.receiveNow() {
                    batch.append(message)
                }
            } catch {
                // Closed or context terminated: deliver what we have and stop.
                if !batch.isEmpty { continuation.yield(batch) }
                break
            }
            if !batch.isEmpty {
                socket.counters.received.add(UInt64(batch.count), ordering: .relaxed)
                while capacity.wait(timeout: .now() + .milliseconds(50)) == .timedOut {
                    if stopRequested.load(ordering: .relaxed) { break outer }
                }
                continuation.yield(batch)
                if batch.count == maxBatch { continue }  // probably more waiting
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, Self.pollMilliseconds)
        }
    }

    /// Asks the thread to stop and waits (off the cooperative pool) until it has exited.
    func stopAndJoin() async {
        stopRequested.store(true, ordering: .relaxed)
        guard started.load(ordering: .relaxed) else { return }
        let exited = self.exited
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                exited.wait()
                exited.signal()  // let a second joiner through too
                done.resume()
            }
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncStream<[ZMQMessage]>.AsyncIterator
        let capacity: DispatchSemaphore

        public mutating func next() async -> [ZMQMessage]? {
            guard let batch = await base.next() else { return nil }
            capacity.signal()
            return batch
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator(), capacity: capacity)
    }
}

/// Starts a detached, named OS thread running `body`.
private func startThread(name: String, _ body: @escaping @Sendable () -> Void) {
    final class Box: Sendable {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
    let box = Unmanaged.passRetained(Box(name: name, body: body))
    #if canImport(Glibc)
    var thread = pthread_t()
    #else
    var thread: pthread_t?
    #endif
    let rc = pthread_create(&thread, nil, { context in
        let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
        #if os(Linux)
        fleet_zmq_set_thread_name(String(box.name.prefix(15)))
        #elseif canImport(Darwin)
        pthread_setname_np(box.name)
        #endif
        box.body()
        return nil
    }, box.toOpaque())
    precondition(rc == 0, "pthread_create failed: \(rc)")
    pthread_detach(thread)
}
