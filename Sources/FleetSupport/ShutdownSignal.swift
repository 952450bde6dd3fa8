import Synchronization

/// A one-shot broadcast: every waiter resumes when `fire()` is called (or at once if it
/// already was). Lets long waits (a gateway's agent sessions, an agent's reconnect backoff)
/// end promptly and cleanly when the process is asked to shut down.
public final class ShutdownSignal: Sendable {
    private struct State {
        var fired = false
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var next = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func fire() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.fired = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    public var isFired: Bool { state.withLock { $0.fired } }

    /// Returns when fired, or when the calling task is cancelled.
    public func wait() async {
        let id = state.withLock { state -> Int in
            state.next += 1
            return state.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.fired || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    /// Sleeps for `duration`, returning early (true) if the signal fires first.
    @discardableResult
    public func sleep(for duration: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.wait()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: duration)
                return false
            }
            let fired = await group.next() ?? false
            group.cancelAll()
            return fired || isFired
        }
    }
}
