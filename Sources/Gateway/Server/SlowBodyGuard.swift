import Hummingbird
import Metrics
import NIOCore
import Synchronization

/// Reads a request body but never waits for ever: a body that stops arriving for `timeout`
/// (a client that sends its headers, then a byte now and then: slowloris on the body) has its
/// connection closed, which ends the read with an error in the handler (which then cleans up
/// as for any client that went away).
struct SlowBodyGuard: Sendable {
    let channel: any Channel
    let timeout: Duration

    static let closed = Counter(label: "fleet_gateway_connections_timed_out_total", dimensions: [("phase", "request_body")])

    /// Marks progress; the guard closes the connection when none was marked for `timeout`
    /// while the handler was waiting for the client. Time the handler spends on its own work
    /// (`busy`: waiting for the bus to take a chunk, which is how an upload is slowed to what
    /// the store can take) is not the client's stall.
    final class Progress: Sendable {
        private let last = Atomic<Int64>(Progress.now())
        private let working = Atomic<Int>(0)
        func tick() { last.store(Self.now(), ordering: .relaxed) }
        func idle() -> Duration {
            working.load(ordering: .relaxed) > 0 ? .zero : .nanoseconds(Self.now() - last.load(ordering: .relaxed))
        }
        /// Runs `work` as the handler's own time, then counts as progress.
        func busy<T>(_ work: () async throws -> T) async rethrows -> T {
            working.add(1, ordering: .relaxed)
            defer {
                working.subtract(1, ordering: .relaxed)
                tick()
            }
            return try await work()
        }
        private static func now() -> Int64 {
            let instant = ContinuousClock.now - ContinuousClock.Instant.reference
            return instant.components.seconds * 1_000_000_000 + instant.components.attoseconds / 1_000_000_000
        }
    }

    /// Runs `operation` (which reads the body, calling `tick()` per chunk) under the guard.
    func watch<T>(_ operation: (Progress) async throws -> T) async throws -> T {
        let progress = Progress()
        let channel = self.channel
        let timeout = self.timeout
        let watchdog = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: timeout / 4)
                if Task.isCancelled { return }
                if progress.idle() > timeout {
                    Self.closed.increment()
                    channel.close(promise: nil)
                    return
                }
            }
        }
        defer { watchdog.cancel() }
        return try await operation(progress)
    }

    /// The whole body, at most `limit` bytes (413 past it).
    func collect(_ body: RequestBody, upTo limit: Int) async throws -> [UInt8] {
        try await watch { progress in
            var bytes: [UInt8] = []
            for try await buffer in body {
                progress.tick()
                guard bytes.count + buffer.readableBytes <= limit else {
                    throw APIError(status: .contentTooLarge, code: "too_large", message: "body over \(limit) bytes")
                }
                bytes.append(contentsOf: buffer.readableBytesView)
            }
            return bytes
        }
    }
}

extension ContinuousClock.Instant {
    /// A fixed origin for turning instants into integers (the process's first use).
    static let reference = ContinuousClock.now
}
