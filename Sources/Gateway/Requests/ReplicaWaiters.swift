import FleetProtocol
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Long-polls on requests (`?wait=SECONDS`): a handler waits until the replica shows the
/// request in a state it wants, or the time is up. The replica's change feed wakes waiters;
/// no polling.
final class RequestWaiters: Sendable {
    private struct Waiter {
        let satisfied: @Sendable (RequestRecord) -> Bool
        let continuation: CheckedContinuation<RequestRecord?, Never>
    }

    private let waiters = Mutex<[String: [UUID: Waiter]]>([:])

    /// Waits up to `timeout` for request `id` to satisfy `satisfied`. Returns the record
    /// that satisfied it, or nil on timeout.
    func wait(
        for id: String, timeout: Duration, current: @Sendable () -> RequestRecord?,
        until satisfied: @escaping @Sendable (RequestRecord) -> Bool
    ) async -> RequestRecord? {
        if let now = current(), satisfied(now) { return now }
        let token = UUID()
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            self?.resume(id, token, with: nil)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            waiters.withLock { $0[id, default: [:]][token] = Waiter(satisfied: satisfied, continuation: continuation) }
            // A change may have landed between the first check and registering.
            if let now = current(), satisfied(now) { resume(id, token, with: now) }
        }
    }

    /// Called with every request change the replica applies.
    func notify(_ record: RequestRecord) {
        let ready: [Waiter] = waiters.withLock { all in
            guard var forID = all[record.id] else { return [] }
            let matching = forID.filter { $0.value.satisfied(record) }
            for key in matching.keys { forID.removeValue(forKey: key) }
            all[record.id] = forID.isEmpty ? nil : forID
            return Array(matching.values)
        }
        for waiter in ready { waiter.continuation.resume(returning: record) }
    }

    private func resume(_ id: String, _ token: UUID, with record: RequestRecord?) {
        let waiter = waiters.withLock { all -> Waiter? in
            let found = all[id]?.removeValue(forKey: token)
            if all[id]?.isEmpty == true { all[id] = nil }
            return found
        }
        waiter?.continuation.resume(returning: record)
    }
}
