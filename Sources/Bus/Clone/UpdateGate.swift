import Synchronization

/// A gate an async loop passes through before each step; closing it holds the loop there.
///
/// The replica's update loop passes it once per batch. It exists for tests: closing it is a
/// gateway that stops reading its SUB (stalled, swapped out, SIGSTOPped), which is what makes
/// the registry's PUB drop at the HWM. Open, passing costs one uncontended lock.
final class UpdateGate: Sendable {
    private let state = Mutex<(closed: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    func close() {
        state.withLock { $0.closed = true }
    }

    func open() {
        let waiting = state.withLock { state in
            state.closed = false
            defer { state.waiting = [] }
            return state.waiting
        }
        for waiter in waiting { waiter.resume() }
    }

    func pass() async {
        if !state.withLock({ $0.closed }) { return }  // the usual case: no continuation made
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let proceed = state.withLock { state -> Bool in
                guard state.closed else { return true }
                state.waiting.append(continuation)
                return false
            }
            if proceed { continuation.resume() }
        }
    }
}
