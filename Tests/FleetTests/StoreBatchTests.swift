import FleetProtocol
import Foundation
import Logging
@testable import Registry
import Synchronization
import Testing

/// The store writer's batches: a failed batch merged with what came after writes exactly
/// what the two in sequence would have, and a failing store keeps every row until it heals.
@Suite("Registry store batches: merge rules, retry and back-pressure")
struct StoreBatchTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func agent(_ id: String, hostname: String = "host") -> AgentRecord {
        AgentRecord(
            info: AgentInfo(id: id, hostname: hostname, os: OSInfo(name: "linux", version: "1", kernel: "6", arch: "x86_64"), agentVersion: "1"),
            state: .online, now: start
        )
    }

    func audit(_ action: String) -> AuditEntry {
        AuditEntry(
            at: start, keyId: "k1", keyName: "ops", tenant: nil, source: nil, gatewayId: "gw", action: action, agentId: nil,
            requestId: nil, argsSHA256: nil, status: 202, outcome: "ok"
        )
    }

    func request(_ id: String) -> RequestRecord {
        RequestRecord(id: id, agentId: "a", kind: .status, args: .object([:]), maxAttempts: 3, createdAt: start)
    }

    func sample(_ seq: UInt64) -> RawSnapshot { try! RawSnapshot(MetricsSnapshot(timestamp: start.addingTimeInterval(Double(seq)), seq: seq)) }

    func temporaryStorePath() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("store-batch-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("registry.sqlite").path
    }

    @Test("a newer upsert of the same key wins; appends keep their order across the merge")
    func newerWins() {
        var older = StoreBatch()
        older.agents["a"] = Encoded(agent("a", hostname: "old"))
        older.appendMetrics(sample(1), agentId: "a"); older.appendMetrics(sample(2), agentId: "a")
        older.audit = [audit("first")]
        var newer = StoreBatch()
        newer.agents["a"] = Encoded(agent("a", hostname: "new"))
        newer.appendMetrics(sample(3), agentId: "a")
        newer.audit = [audit("second")]
        older.merge(newer)
        #expect(older.agents["a"]?.record.hostname == "new")
        #expect(older.metrics.map(\.1.seq) == [1, 2, 3])
        #expect(older.audit.map(\.action) == ["first", "second"])
        #expect(older.rows == 1 + 3 + 2)
    }

    @Test("a delete after an upsert drops it (and the agent's earlier history); an upsert after a delete is written after it")
    func deletesAndUpserts() {
        var older = StoreBatch()
        older.agents["a"] = Encoded(agent("a"))
        older.appendMetrics(sample(1), agentId: "a"); older.appendMetrics(sample(1), agentId: "b")
        older.transitions = [("a", start, .online, nil)]
        older.requests["r1"] = Encoded(request("r1"))
        older.deleteRequest("r2")
        var newer = StoreBatch()
        newer.deleteAgent("a")
        newer.deleteRequest("r1")
        newer.requests["r2"] = Encoded(request("r2"))
        older.merge(newer)
        #expect(older.agents["a"] == nil)
        #expect(older.deletedAgents == ["a"])
        #expect(older.metrics.map(\.0) == ["b"], "a's metrics from before its delete are gone with it")
        #expect(older.transitions.isEmpty)
        #expect(older.requests["r1"] == nil && older.deletedRequests.contains("r1"))
        // r2 was deleted, then created again: both stay, and the store deletes before it upserts.
        #expect(older.deletedRequests.contains("r2") && older.requests["r2"] != nil)
    }

    @Test("a merged batch written once leaves the store as the two batches written in sequence")
    func mergedEqualsSequential() async throws {
        var first = StoreBatch()
        first.agents["a"] = Encoded(agent("a", hostname: "v1"))
        first.agents["b"] = Encoded(agent("b"))
        first.appendMetrics(sample(1), agentId: "a"); first.appendMetrics(sample(2), agentId: "a"); first.appendMetrics(sample(1), agentId: "b")
        var second = StoreBatch()
        second.deleteAgent("a")
        second.agents["a"] = Encoded(agent("a", hostname: "v2"))
        second.appendMetrics(sample(3), agentId: "a"); second.appendMetrics(sample(2), agentId: "b")
        second.alerts["x"] = Encoded(AlertRecord(id: "x", rule: "r", kind: .offline, agentId: "b", hostname: "host", state: .firing, firedAt: start, value: nil, message: "m"))

        let sequential = try RegistryStore(path: try temporaryStorePath())
        try await sequential.write(first)
        try await sequential.write(second)
        let merged = try RegistryStore(path: try temporaryStorePath())
        var batch = first
        batch.merge(second)
        try await merged.write(batch)

        for store in [sequential, merged] {
            #expect(try store.loadAgents().sorted { $0.id < $1.id }.map(\.hostname) == ["v2", "host"])
            #expect(try await store.metrics(agentId: "a", since: nil, limit: 10).map(\.seq) == [3])
            #expect(try await store.metrics(agentId: "b", since: nil, limit: 10).map(\.seq) == [1, 2])
            #expect(try store.loadAlerts().map(\.id) == ["x"])
        }
    }

    @Test("a failing store keeps every row, reports it, holds events back past the bound, and writes it all once it heals")
    func retriedUntilItLands() async throws {
        let store = try RegistryStore(path: try temporaryStorePath())
        let writer = StoreWriter(store: store, knownStates: [:], maxPendingRows: 10, logger: Logger(label: "test"))
        // Writes fail from here: the table they need is gone (a stand-in for a full disk).
        try await store.pool.write { db in try db.execute(sql: "ALTER TABLE metrics RENAME TO metrics_away") }
        for seq: UInt64 in 1...6 { writer.metrics(sample(seq), agentId: "a") }
        await writer.flush()
        #expect(writer.status.ok == false)
        #expect(writer.status.error?.contains("metrics") == true, "\(writer.status)")
        #expect(writer.status.failingSince != nil)
        #expect(writer.pendingRows == 6)

        // More arrives while failing: it joins the kept batch, and the bound is reached.
        for seq: UInt64 in 7...12 { writer.metrics(sample(seq), agentId: "a") }
        await writer.flush()
        #expect(writer.pendingRows == 12)
        let (releasedEarly, waiting) = try await startWaiting(writer)
        #expect(!releasedEarly, "events are held back while the rows cannot be written")
        #expect(writer.pendingRows == 12, "nothing was dropped to make room")

        try await store.pool.write { db in try db.execute(sql: "ALTER TABLE metrics_away RENAME TO metrics") }
        // Within the backoff the writer does not try again; a forced flush (as at shutdown) does.
        await writer.flush(final: true)
        await waiting.value  // returns only once waitForRoom() has
        #expect(writer.status.ok)
        #expect(writer.pendingRows == 0)
        #expect(try await store.metrics(agentId: "a", since: nil, limit: 100).map(\.seq) == Array(UInt64(1)...12))
    }

    @Test("history bytes bound intake too: rows under their bound but bytes over it hold events back, with nothing dropped; bytes follow deletes and merges")
    func boundedInBytes() async throws {
        var batch = StoreBatch()
        for seq: UInt64 in 1...3 { batch.appendMetrics(sample(seq), agentId: "a") }
        batch.appendMetrics(sample(4), agentId: "b")
        let each = sample(1).bytes.count + StoreBatch.rowOverhead
        #expect(batch.bytes == 4 * each)
        batch.deleteAgent("a")
        #expect(batch.bytes == each, "a's rows left the batch, and their bytes with them")
        var older = StoreBatch()
        older.appendMetrics(sample(5), agentId: "c")
        older.merge(batch)
        #expect(older.bytes == 2 * each)

        let store = try RegistryStore(path: try temporaryStorePath())
        let limit = 20 * each
        let writer = StoreWriter(store: store, knownStates: [:], maxPendingRows: 1_000, maxPendingBytes: limit, logger: Logger(label: "test"))
        try await store.pool.write { db in try db.execute(sql: "ALTER TABLE metrics RENAME TO metrics_away") }
        for seq: UInt64 in 1...25 { writer.metrics(sample(seq), agentId: "a") }
        await writer.flush()
        #expect(writer.pendingRows == 25, "far under the row bound")
        #expect(writer.pendingBytes == (1...25).reduce(0) { $0 + sample($1).bytes.count + StoreBatch.rowOverhead })
        let (releasedEarly, waiting) = try await startWaiting(writer)
        #expect(!releasedEarly, "held back by the bytes")
        try await store.pool.write { db in try db.execute(sql: "ALTER TABLE metrics_away RENAME TO metrics") }
        await writer.flush(final: true)
        await waiting.value
        #expect(writer.pendingBytes == 0)
        #expect(try await store.metrics(agentId: "a", since: nil, limit: 100).map(\.seq) == Array(UInt64(1)...25))
    }

    /// Starts `waitForRoom()` in a task and tells whether it had returned 200 ms later (it
    /// must not have, while the writer is past a bound), with the task: it ends only once
    /// `waitForRoom()` has returned, so awaiting it is the proof that room was made.
    func startWaiting(_ writer: StoreWriter) async throws -> (releasedEarly: Bool, waiting: Task<Void, Never>) {
        let released = Mutex(false)
        let waiting = Task {
            await writer.waitForRoom()
            released.withLock { $0 = true }
        }
        try await Task.sleep(for: .milliseconds(200))
        return (released.withLock { $0 }, waiting)
    }

    /// Writes `batch` into a new store at `path` and closes it (everything checkpointed into
    /// the main file, no -wal left).
    func writeAndClose(_ batch: StoreBatch, at path: String) async throws {
        let sound = try RegistryStore(path: path)
        try await sound.write(batch)
        try await sound.pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
    }

    @Test("a file that is not SQLite, or a database with damaged pages, is moved aside untouched and the store starts empty")
    func corruptMovedAside() async throws {
        let garbagePath = try temporaryStorePath()
        let garbage = Data((0..<20_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try garbage.write(to: URL(fileURLWithPath: garbagePath))
        let store = try RegistryStore(path: garbagePath, now: start)
        let corrupt = try #require(store.corrupt)
        #expect(corrupt.movedTo == garbagePath + ".corrupt-20270115T080000Z")
        #expect(FileManager.default.contents(atPath: corrupt.movedTo) == garbage)
        #expect(try store.loadAgents().isEmpty)

        // A real store whose pages were overwritten past the header.
        let damagedPath = try temporaryStorePath()
        var batch = StoreBatch()
        for index in 0..<200 { batch.agents["agent-\(index)"] = Encoded(agent("agent-\(index)", hostname: String(repeating: "h", count: 200))) }
        try await writeAndClose(batch, at: damagedPath)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: damagedPath))
        try handle.seek(toOffset: 4096 * 3)
        try handle.write(contentsOf: Data(repeating: 0xA5, count: 4096 * 4))
        try handle.close()
        let reopened = try RegistryStore(path: damagedPath, now: start)
        #expect(reopened.corrupt != nil)
        #expect(try reopened.loadAgents().isEmpty)
        // A sound store is left where it is.
        #expect(try RegistryStore(path: damagedPath).corrupt == nil)
    }
}
