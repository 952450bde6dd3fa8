#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import FleetProtocol

/// The request table: every callback asked for, its attempts and its outcome.
///
/// Nothing is silently lost (DESIGN.md section 3): a request that gets no result within
/// `attemptTimeout` is sent again (same id: the agent and the workers treat it
/// idempotently) up to `maxAttempts` times, then `failed` with the reason. A request for an
/// agent that is not connected waits for it until its attempts' worth of time has passed.
/// A plain value with no I/O; the registry dispatches what `dispatchable` says and
/// publishes every record a method returns.
public struct RequestTable: Sendable {
    public struct Settings: Sendable {
        public var attemptTimeout: TimeInterval
        public var maxAttempts: Int
        /// Finished requests are forgotten (from memory and the replicas) after this long.
        public var retention: TimeInterval
        public init(attemptTimeout: TimeInterval = 30, maxAttempts: Int = 3, retention: TimeInterval = 3600) {
            self.attemptTimeout = attemptTimeout
            self.maxAttempts = maxAttempts
            self.retention = retention
        }
    }

    public var settings: Settings
    public private(set) var requests: [String: RequestRecord] = [:]

    public init(settings: Settings, loading records: [RequestRecord] = []) {
        self.settings = settings
        self.requests = Dictionary(records.map { ($0.id, $0) }, uniquingKeysWith: { _, new in new })
    }

    /// Records a new request (pending). A repeated id changes nothing (idempotent create).
    public mutating func create(_ created: BusEvent.RequestCreated, now: Date) -> RequestRecord? {
        guard requests[created.requestId] == nil else { return nil }
        var record = RequestRecord(
            id: created.requestId, agentId: created.agentId, kind: created.kind, args: created.args,
            maxAttempts: settings.maxAttempts, createdAt: now
        )
        // While pending, the deadline is the whole budget: every attempt's time.
        record.attemptDeadline = now.addingTimeInterval(settings.attemptTimeout * Double(settings.maxAttempts))
        requests[record.id] = record
        return record
    }

    /// Stores `record` as is (the registry adds what the table does not know, e.g. the
    /// reply token's digest).
    public mutating func replace(_ record: RequestRecord) {
        requests[record.id] = record
    }

    /// Fails a request at once (e.g. for an agent nobody knows).
    public mutating func fail(_ id: String, reason: String, now: Date) -> RequestRecord? {
        guard var record = requests[id], !record.state.isFinal else { return nil }
        record.state = .failed
        record.error = reason
        record.completedAt = now
        requests[id] = record
        return record
    }

    /// Marks one more attempt as sent.
    public mutating func dispatched(_ id: String, now: Date) -> RequestRecord? {
        guard var record = requests[id], !record.state.isFinal else { return nil }
        record.state = .dispatched
        record.attempts += 1
        record.attemptDeadline = now.addingTimeInterval(settings.attemptTimeout)
        requests[id] = record
        return record
    }

    /// Requests of `agentId` waiting for it to connect.
    public func pending(for agentId: String) -> [RequestRecord] {
        requests.values.filter { $0.agentId == agentId && $0.state == .pending }.sorted { $0.createdAt < $1.createdAt }
    }

    /// A worker's result. The first one completes the request; any later one is a duplicate
    /// reply: ignored, but counted on the record. Unknown ids return nil, and so does a
    /// result naming another agent than the request's: a request is only ever completed by
    /// its own agent's reply (a forged or misrouted result changes nothing).
    public mutating func complete(_ result: BusEvent.RequestResult, now: Date) -> (record: RequestRecord, duplicate: Bool)? {
        guard var record = requests[result.requestId], record.agentId == result.agentId else { return nil }
        if record.state.isFinal {
            record.duplicateReplies += 1
            requests[record.id] = record
            return (record, true)
        }
        record.state = result.ok ? .completed : .failed
        record.result = result.result
        record.error = result.ok ? nil : (result.error ?? "the agent reported a failure")
        record.completedAt = now
        requests[record.id] = record
        return (record, false)
    }

    /// What the deadline sweep found: attempts to send again, and requests that gave up.
    public struct Expiry: Sendable {
        public var retry: [RequestRecord] = []
        public var failed: [RequestRecord] = []
    }

    /// Attempts whose deadline passed: retried while attempts remain, else failed.
    /// `isOnline` says whether a retry can be sent now; if not, the request waits (pending)
    /// for the agent with the time one attempt would have had.
    public mutating func expire(now: Date, isOnline: (String) -> Bool) -> Expiry {
        var expiry = Expiry()
        for var record in requests.values where !record.state.isFinal {
            guard let deadline = record.attemptDeadline, deadline <= now else { continue }
            let timeout = Int(settings.attemptTimeout)
            if record.state == .pending && record.attempts == 0 {
                record.state = .failed
                record.error = "agent \(record.agentId) did not connect within \(timeout * record.maxAttempts) s"
            } else if record.attempts >= record.maxAttempts {
                record.state = .failed
                record.error = "no result after \(record.attempts) attempt(s) of \(timeout) s each"
            } else if isOnline(record.agentId) {
                expiry.retry.append(record)
                continue
            } else if now < record.createdAt.addingTimeInterval(settings.attemptTimeout * Double(record.maxAttempts)) {
                // Sent, then the agent left: wait for it, but never past the whole budget
                // (every attempt's time, counted from creation), or a request to an agent that
                // never comes back would stay pending for ever.
                record.state = .pending
                let budgetEnd = record.createdAt.addingTimeInterval(settings.attemptTimeout * Double(record.maxAttempts))
                record.attemptDeadline = min(now.addingTimeInterval(settings.attemptTimeout), budgetEnd)
                requests[record.id] = record
                continue
            } else {
                record.state = .failed
                record.error = "agent \(record.agentId) left after \(record.attempts) attempt(s) and did not come back within \(timeout * record.maxAttempts) s"
            }
            record.completedAt = now
            requests[record.id] = record
            expiry.failed.append(record)
        }
        expiry.retry.sort { $0.createdAt < $1.createdAt }
        return expiry
    }

    /// Finished requests older than the retention; removed from the table.
    public mutating func prune(now: Date) -> [String] {
        let old = requests.values.filter { record in
            record.state.isFinal && (record.completedAt.map { now.timeIntervalSince($0) > settings.retention } ?? false)
        }.map(\.id)
        for id in old { requests.removeValue(forKey: id) }
        return old.sorted()
    }
}
