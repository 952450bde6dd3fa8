#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import FleetProtocol
import Logging
import Metrics
import Synchronization

/// Writes behind the registry's hot path: callers add changes without waiting (a lock and an
/// append), and one task commits what accumulated every `interval` in a single transaction.
/// A crash loses at most the last interval's changes; the agents re-announce and re-send
/// what matters (sessions, heartbeats), and unfinished requests are re-issued.
///
/// A failed write (disk full, I/O error) loses nothing: the batch is kept, merged with what
/// arrives meanwhile (``StoreBatch/merge(_:)``), and retried with backoff (100 ms doubling
/// to 5 s), counted in `fleet_registry_store_errors_total`; the registry reports itself
/// degraded (``status``, `fleet_registry_store_healthy`) until a write lands, and past
/// ``maxPendingRows`` stops reading events instead of dropping any.
public final class StoreWriter: Sendable {
    private let store: RegistryStore
    private let logger: Logger
    private let pending = Mutex(StoreBatch())
    /// Last state written per agent, to record transitions (not every heartbeat).
    private let lastState = Mutex<[String: AgentState]>([:])
    public let interval: Duration
    /// Most rows that may wait for the store, the failed batch included. Past it the
    /// registry stops taking bus events (``waitForRoom()``) until a commit makes room:
    /// ZeroMQ's high-water marks then slow the gateways, and they their agents, instead of
    /// the batch growing without bound when the disk is slower than the fleet (heaptrack of
    /// an overloaded registry in the bench: the pending rows grew with the backlog;
    /// bench/RESULTS.md) or cannot be written at all (disk full): nothing is dropped.
    public let maxPendingRows: Int
    public static let defaultMaxPendingRows = 50_000
    /// Most bytes of history rows that may wait, the batch being written and a failed one
    /// included (`store.max_pending_bytes`). Rows alone did not bound memory: an overloaded
    /// registry (bench overload, a CPU quota of a quarter core) held 50,000 waiting rows
    /// *and* a batch as large in flight, 3.1x its steady RSS. At 16 MiB a commit of 100 ms
    /// still carries ~12,000 heartbeats.
    public let maxPendingBytes: Int
    public static let defaultMaxPendingBytes = 16 * 1_048_576
    /// First wait after a failed write, doubled per failure up to `maxBackoff`.
    static let firstBackoff = Duration.milliseconds(100)
    static let maxBackoff = Duration.seconds(5)
    /// How long after a start that found the store corrupt /readyz keeps saying so.
    static let corruptNoticeFor: TimeInterval = 3600

    private let failure = Mutex(Failure())
    /// History bytes of the batch being written now (taken out of `pending`, not yet landed).
    private let writingBytes = Mutex(0)
    private let lastPauseLog = Mutex<ContinuousClock.Instant?>(nil)
    /// When ``waitForRoom()`` last held event intake back.
    private let heldAt = Mutex<ContinuousClock.Instant?>(nil)
    private let flushLock = FlushLock()
    private let startedAt = Date()
    private let errors = Counter(label: "fleet_registry_store_errors_total")
    private let healthy = Gauge(label: "fleet_registry_store_healthy")
    private let pendingGauge = Gauge(label: "fleet_registry_store_pending_rows")
    private let pendingBytesGauge = Gauge(label: "fleet_registry_store_pending_bytes")

    /// A write that failed: the batch is kept (merged with what arrives) until one lands.
    private struct Failure {
        var batch: StoreBatch?
        var rows = 0
        var since: Date?
        var error: String?
        var attempts = 0
        var backoff = Duration.zero
        var nextAttempt = ContinuousClock.now
    }

    public init(
        store: RegistryStore, knownStates: [String: AgentState], interval: Duration = .milliseconds(100),
        maxPendingRows: Int = StoreWriter.defaultMaxPendingRows, maxPendingBytes: Int = StoreWriter.defaultMaxPendingBytes,
        logger: Logger
    ) {
        self.store = store
        self.logger = logger
        self.interval = interval
        self.maxPendingRows = maxPendingRows
        self.maxPendingBytes = maxPendingBytes
        lastState.withLock { $0 = knownStates }
        healthy.record(1)
        // Created at start so the family is there (0) before anything goes wrong.
        let corruptCount = Counter(label: "fleet_registry_store_corrupt_total")
        if let corrupt = store.corrupt {
            corruptCount.increment()
            logger.error(
                "registry store was corrupt: moved aside, starting from an empty store; gateways re-announce their sessions and agents re-enroll",
                metadata: ["moved_to": "\(corrupt.movedTo)", "check": "\(corrupt.reason)"]
            )
        }
    }

    /// A state change from the registry core, with the JSON it encoded for the PUB.
    func change(_ change: RegistryChange, now: Date) {
        switch change.record {
        case .agent(let record): agent(Encoded(record, json: change.body), now: now)
        case .agentDeleted(let id): agentDeleted(id)
        case .request(let record): pending.withLock { $0.requests[record.id] = Encoded(record, json: change.body) }
        case .requestDeleted(let id): pending.withLock { $0.deleteRequest(id) }
        case .alert(let record): pending.withLock { $0.alerts[record.id] = Encoded(record, json: change.body) }
        case .alertDeleted(let id): pending.withLock { $0.deleteAlert(id) }
        case .key(let record): pending.withLock { $0.keys[record.id] = Encoded(record, json: change.body) }
        case .credential(let record): pending.withLock { $0.credentials[record.agentId] = Encoded(record, json: change.body) }
        }
    }

    func agent(_ encoded: Encoded<AgentRecord>, now: Date) {
        let record = encoded.record
        let previous = lastState.withLock { states -> AgentState? in
            defer { states[record.id] = record.state }
            return states[record.id]
        }
        pending.withLock { batch in
            batch.agents[record.id] = encoded
            if previous != record.state {
                batch.transitions.append((record.id, now, record.state, record.stateReason))
            }
        }
    }

    func agentDeleted(_ id: String) {
        lastState.withLock { _ = $0.removeValue(forKey: id) }
        pending.withLock { $0.deleteAgent(id) }
    }

    /// One snapshot for the history, as the agent's bytes.
    func metrics(_ snapshot: RawSnapshot, agentId: String) {
        pending.withLock { $0.appendMetrics(snapshot, agentId: agentId) }
    }

    /// Audit lines are appended, never collapsed.
    func audit(_ entry: AuditEntry) {
        pending.withLock { $0.audit.append(entry) }
    }

    /// Rows not yet written: the batch accumulating plus a failed one kept for retry.
    public var pendingRows: Int {
        pending.withLock { $0.rows } + failure.withLock { $0.rows }
    }

    /// Bytes of history not yet written: the batch accumulating, the one being written, and a
    /// failed one kept for retry (which is the one being written while it is retried).
    public var pendingBytes: Int {
        pending.withLock { $0.bytes } + max(writingBytes.withLock { $0 }, failure.withLock { $0.batch?.bytes ?? 0 })
    }

    /// Whether intake must wait: past either bound.
    private var isFull: Bool { pendingRows >= maxPendingRows || pendingBytes >= maxPendingBytes }

    /// What /readyz shows about the store (through the `peers` answer).
    public var status: StoreStatus {
        let rows = pendingRows
        let corrupt = store.corrupt.flatMap { Date().timeIntervalSince(startedAt) < Self.corruptNoticeFor ? $0 : nil }
        return failure.withLock { failure in
            StoreStatus(ok: failure.since == nil, error: failure.error, failingSince: failure.since, pendingRows: rows, corrupt: corrupt)
        }
    }

    /// Returns when the pending rows are under the bound (at once, unless the store has
    /// fallen behind or is failing), or when the task is cancelled.
    func waitForRoom() async {
        guard isFull else { return }
        let started = ContinuousClock.now
        // Logged at most every 10 s: an overloaded but healthy store crosses the bound often.
        let logs = lastPauseLog.withLock { last -> Bool in
            guard last.map({ started - $0 >= .seconds(10) }) ?? true else { return false }
            last = started
            return true
        }
        if logs {
            logger.warning(
                "store behind: not reading bus events until pending rows are written",
                metadata: [
                    "pending_rows": "\(pendingRows)", "row_limit": "\(maxPendingRows)",
                    "pending_bytes": "\(pendingBytes)", "byte_limit": "\(maxPendingBytes)",
                ]
            )
        }
        while isFull {
            heldAt.withLock { $0 = .now }
            do { try await Task.sleep(for: .milliseconds(5)) } catch { return }
        }
        heldAt.withLock { $0 = .now }
        if logs {
            logger.notice("store caught up: reading bus events again", metadata: ["paused_seconds": "\((ContinuousClock.now - started).inSeconds)"])
        }
    }

    /// Whether event intake was held back within the last `window`. The silence that causes is
    /// the registry's own doing: liveness and request deadlines must not read it as agents,
    /// gateways or workers gone (beats queued behind the pause arrive once it ends).
    public func heldEvents(within window: Duration) -> Bool {
        heldAt.withLock { $0.map { ContinuousClock.now - $0 < window } ?? false }
    }

    /// Commits every `interval` until cancelled, then once more.
    func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            await flush()
        }
        await flush(final: true)
        let left = pendingRows
        if left > 0 {
            logger.error("stopping with rows the store could not write: they are lost", metadata: ["rows": "\(left)"])
        }
    }

    /// Commits what has accumulated, with any failed batch before it (one flush at a time).
    /// While failing, a retry waits out its backoff (unless `final`); what arrives meanwhile
    /// joins the failed batch.
    func flush(final: Bool = false) async {
        await flushLock.run { await self.flushOnce(final: final) }
    }

    private func flushOnce(final: Bool) async {
        let fresh = pending.withLock { batch -> StoreBatch in
            defer { batch = StoreBatch() }
            return batch
        }
        let (batch, due) = failure.withLock { failure -> (StoreBatch, Bool) in
            guard var failed = failure.batch else { return (fresh, true) }
            failed.merge(fresh)
            failure.batch = failed
            failure.rows = failed.rows
            return (failed, final || ContinuousClock.now >= failure.nextAttempt)
        }
        defer { publishGauges() }
        guard due, !batch.isEmpty else { return }
        do {
            // In a task of its own: GRDB's async write honours cancellation, and a batch taken
            // from `pending` must be written even while the registry is shutting down.
            let store = self.store
            writingBytes.withLock { $0 = batch.bytes }
            defer { writingBytes.withLock { $0 = 0 } }
            try await Task { try await store.write(batch) }.value
            let recovered = failure.withLock { failure -> (since: Date, attempts: Int)? in
                defer { failure = Failure() }
                return failure.since.map { ($0, failure.attempts) }
            }
            if let recovered {
                logger.notice(
                    "store writes land again: the kept changes are written",
                    metadata: [
                        "rows": "\(batch.rows)", "failed_attempts": "\(recovered.attempts)",
                        "failing_seconds": "\(Date().timeIntervalSince(recovered.since))",
                    ]
                )
            }
        } catch {
            errors.increment()
            let (attempts, wait) = failure.withLock { failure -> (Int, Duration) in
                failure.batch = batch
                failure.rows = batch.rows
                failure.since = failure.since ?? Date()
                failure.error = "\(error)"
                failure.attempts += 1
                failure.backoff = failure.backoff == .zero ? Self.firstBackoff : min(failure.backoff * 2, Self.maxBackoff)
                failure.nextAttempt = ContinuousClock.now + failure.backoff
                return (failure.attempts, failure.backoff)
            }
            logger.error(
                "store write failed; the changes are kept and retried",
                metadata: ["error": "\(error)", "rows": "\(batch.rows)", "attempt": "\(attempts)", "retry_in_seconds": "\(wait.inSeconds)"]
            )
        }
    }

    private func publishGauges() {
        let failing = failure.withLock { $0.since != nil }
        healthy.record(failing ? 0 : 1)
        pendingGauge.record(pendingRows)
        pendingBytesGauge.record(pendingBytes)
    }
}
