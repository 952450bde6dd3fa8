import FleetProtocol
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Waits for the replica to show a record in a state the caller wants: long-polls on
/// requests (`?wait=SECONDS`), an enrolling session waiting for its credential, an API key
/// waiting to be visible before its secret is handed out. The replica's change feed wakes
/// waiters; no polling.
final class ReplicaWaiters<Record: Sendable>: Sendable {
    private struct Waiter {
        let satisfied: @Sendable (Record) -> Bool
        let continuation: CheckedContinuation<Record?, Never>
    }

    private let waiters = Mutex<[String: [UUID: Waiter]]>([:])

    /// Waits up to `timeout` for the record `id` to satisfy `satisfied`. Returns the record
    /// that satisfied it, or nil on timeout.
    func wait(
        for id: String, timeout: Duration, current: @Sendable () -> Record?,
        until satisfied: @escaping @Sendable (Record) -> Bool
    ) async -> Record? {
        if let now = current(), satisfied(now) { return now }
        let token = UUID()
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            self?.resume(id, token, with: nil)
        }
        defer { timer.cancel() }
        // Cancelling the waiting task ends the wait (nil), like a timeout.
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                waiters.withLock { $0[id, default: [:]][token] = Waiter(satisfied: satisfied, continuation: continuation) }
                // A change may have landed between the first check and registering, or the
                // task was cancelled before the handler could find the waiter.
                if let now = current(), satisfied(now) {
                    resume(id, token, with: now)
                } else if Task.isCancelled {
                    resume(id, token, with: nil)
                }
            }
        } onCancel: {
            resume(id, token, with: nil)
        }
    }

    /// Called with every change of this kind the replica applies.
    func notify(id: String, _ record: Record) {
        let ready: [Waiter] = waiters.withLock { all in
            guard var forID = all[id] else { return [] }
            let matching = forID.filter { $0.value.satisfied(record) }
            for key in matching.keys { forID.removeValue(forKey: key) }
            all[id] = forID.isEmpty ? nil : forID
            return Array(matching.values)
        }
        for waiter in ready { waiter.continuation.resume(returning: record) }
    }

    /// Ends every wait for `id` now, with nil (the thing waited for will not come: the
    /// session that waits for its enrollment was refused and closed).
    func abandon(id: String) {
        let waiting = waiters.withLock { $0.removeValue(forKey: id).map { Array($0.values) } ?? [] }
        for waiter in waiting { waiter.continuation.resume(returning: nil) }
    }

    /// Ends every wait, with nil (shutdown).
    func abandonAll() {
        let waiting = waiters.withLock { all -> [Waiter] in
            defer { all = [:] }
            return all.values.flatMap(\.values)
        }
        for waiter in waiting { waiter.continuation.resume(returning: nil) }
    }

    private func resume(_ id: String, _ token: UUID, with record: Record?) {
        let waiter = waiters.withLock { all -> Waiter? in
            let found = all[id]?.removeValue(forKey: token)
            if all[id]?.isEmpty == true { all[id] = nil }
            return found
        }
        waiter?.continuation.resume(returning: record)
    }
}
