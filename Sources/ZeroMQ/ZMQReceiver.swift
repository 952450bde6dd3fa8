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

    /// How long the thread waits on the socket's fd before checking again: a safety net only.
    /// The fd is edge-triggered and a send on another thread can consume its signal, so every
    /// send on a socket with a receiver pokes the thread through `wake` (a pipe polled beside
    /// the fd), and so does a stop. It used to be 10 ms, which cost 100 wake-ups a second per
    /// receiving socket: most of an idle master's CPU (issue 13: 3.1% of a core for
    /// `master serve` with no agents).
    private static let pollMilliseconds: Int32 = 1_000
    /// The pipe that interrupts the thread's poll: [read end, write end], both non-blocking.
    private let wake: (read: Int32, write: Int32)

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
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for end in fds { _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK) }
        }
        self.wake = (fds[0], fds[1])
        (self.stream, self.continuation) = AsyncStream.makeStream(of: [ZMQMessage].self, bufferingPolicy: .unbounded)
    }

    func start() {
        guard !started.exchange(true, ordering: .relaxed) else { return }
        startThread(name: threadName) { [self] in
            self.run()
        }
    }

    /// Interrupts the thread's wait (a send may have consumed the fd's edge; or a stop).
    func poke() {
        guard wake.write >= 0 else { return }
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)  // a full pipe already holds a wake-up: nothing lost
    }

    private func run() {
        defer {
            continuation.finish()
            if wake.read >= 0 {
                close(wake.read)
                close(wake.write)
            }
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
            var pfds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
            _ = poll(&pfds, wake.read >= 0 ? 2 : 1, Self.pollMilliseconds)
            if pfds[1].revents != 0 {
                var drain = [UInt8](repeating: 0, count: 64)
                while read(wake.read, &drain, drain.count) > 0 {}
            }
        }
    }

    /// Asks the thread to stop and waits (off the cooperative pool) until it has exited.
    func stopAndJoin() async {
        stopRequested.store(true, ordering: .relaxed)
        poke()
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
