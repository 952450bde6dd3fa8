import Synchronization

/// Calls `send(n)` for n = 0, 1, 2, … `rate` times a second, each call in a task of its own
/// (a slow answer must not slow the rate down), until ``stop()``. The load of the tests that
/// break a running master and then audit what it acknowledged.
final class SteadyLoad: Sendable {
    private let stopped = Flag()
    private let loop: Task<Void, Never>

    init(rate: Double, _ send: @escaping @Sendable (Int) async -> Void) {
        let stopped = self.stopped
        loop = Task {
            var sent = 0
            let start = ContinuousClock.now
            while !stopped.isSet {
                let index = sent
                sent += 1
                Task { await send(index) }
                try? await Task.sleep(until: start + .milliseconds(Int64(Double(sent) * 1000 / rate)), clock: .continuous)
            }
        }
    }

    /// Ends the pacing; returns once no call will start any more (calls already started may
    /// still be waiting for their answers: give them their timeout before auditing).
    func stop() async {
        stopped.set()
        await loop.value
    }
}

/// A flag set once, read from any task.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}
