@testable import Bus
import FleetProtocol
import Foundation
import Testing

/// The replica's Clone rules as a value (issue 13): subscribe, snapshot, apply, gap -> resync,
/// new epoch, timeouts, and the metrics feed beside them. No sockets, no sleeps: time is an
/// instant passed in.
@Suite("Clone sync: the replica's state machine")
struct CloneSyncTests {
    let start = ContinuousClock.now
    let date = Date(timeIntervalSince1970: 1_800_000_000)

    func record(_ id: String, _ state: AgentState = .online) -> AgentRecord {
        AgentRecord(
            info: AgentInfo(id: id, hostname: id, os: OSInfo(name: "linux", version: "1", kernel: "6", arch: "x86_64"), agentVersion: "1"),
            state: state, now: date
        )
    }

    func update(_ seq: UInt64, _ id: String, _ state: AgentState = .online, epoch: String = "e1") -> CloneSync.Update {
        CloneSync.Update(header: UpdateHeader(seq: seq, epoch: epoch, op: .upsert), body: .record(.agent(record(id, state))))
    }

    func hugz(_ seq: UInt64, epoch: String = "e1") -> CloneSync.Update {
        CloneSync.Update(header: UpdateHeader(seq: seq, epoch: epoch, op: .hugz), body: .hugz)
    }

    func entry(_ id: String, seq: UInt64, at offset: Double) throws -> MetricsFeed.Entry {
        MetricsFeed.Entry(agentId: id, at: date + offset, snapshot: try RawSnapshot(MetricsSnapshot(timestamp: date, seq: seq)))
    }

    /// The nonce of the snapshot request an effect list holds.
    func nonceOf(_ effects: [CloneSync.Effect]) -> String? {
        for effect in effects { if case .requestSnapshot(let nonce, _, _) = effect { return nonce } }
        return nil
    }

    func cause(_ effects: [CloneSync.Effect]) -> CloneSync.ResyncCause? {
        for effect in effects { if case .requestSnapshot(_, _, let cause) = effect { return cause } }
        return nil
    }

    /// A started sync with a snapshot of `agents` at `seq` applied.
    func synced(_ agents: [String], seq: UInt64, epoch: String = "e1") -> CloneSync {
        var sync = CloneSync(noncePrefix: "t")
        guard let nonce = nonceOf([sync.requestSnapshot(reason: "start", cause: .start, now: start)]) else { return sync }
        _ = sync.receive(
            chunk: SnapshotHeader(seq: seq, epoch: epoch, nonce: nonce, last: true), SnapshotChunk(agents: agents.map { record($0) }, requests: []),
            metrics: [], now: start
        )
        return sync
    }

    @Test("updates that arrive before the snapshot are buffered: those at or below its sequence dropped, the rest applied in order")
    func subscribeThenSnapshot() throws {
        var sync = CloneSync(noncePrefix: "t")
        #expect(sync.receive(update(1, "early"), now: start).changes.isEmpty, "idle: nothing applies before the handshake")
        let nonce = try #require(nonceOf([sync.requestSnapshot(reason: "start", cause: .start, now: start)]))
        _ = sync.receive(update(5, "a", .offline), now: start)  // already in the snapshot
        _ = sync.receive(update(6, "b"), now: start)
        _ = sync.receive(update(7, "a", .disconnected), now: start)
        #expect(sync.records.isEmpty && !sync.isSynced)
        let first = sync.receive(
            chunk: SnapshotHeader(seq: 5, epoch: "e1", nonce: nonce, last: false), SnapshotChunk(agents: [record("a")], requests: []), metrics: [], now: start
        )
        #expect(first.changes.isEmpty && !sync.isSynced, "not before the last chunk")
        let last = sync.receive(chunk: SnapshotHeader(seq: 5, epoch: "e1", nonce: nonce, last: true), SnapshotChunk(agents: [], requests: []), metrics: [], now: start)
        #expect(sync.isSynced && sync.everSynced && sync.seq == 7)
        #expect(sync.records["a"]?.state == .disconnected && sync.records["b"]?.state == .online)
        #expect(last.effects.contains { if case .synced(7, "e1", 2) = $0 { true } else { false } })
        // An answer to a request given up on is ignored.
        let stale = sync.receive(chunk: SnapshotHeader(seq: 1, epoch: "e1", nonce: "other", last: true), SnapshotChunk(agents: [], requests: []), metrics: [], now: start)
        #expect(stale.changes.isEmpty && sync.records.count == 2)
    }

    @Test("a gap in the sequence, or a HUGZ beat ahead of it, starts a resync counting what was missed; replays are ignored")
    func gaps() throws {
        var sync = synced(["a"], seq: 10)
        #expect(sync.receive(update(11, "b"), now: start).changes.count == 1)
        #expect(sync.receive(update(11, "b", .offline), now: start).changes.isEmpty, "a replay of 11 does not win")
        #expect(sync.receive(hugz(11), now: start).effects.isEmpty, "a beat at our sequence: in step")
        let gap = sync.receive(update(14, "c"), now: start)
        #expect(cause(gap.effects) == .gap && sync.gaps == 1 && sync.missedUpdates == 2 && !sync.isSynced)
        var quiet = synced(["a"], seq: 3)
        let behind = quiet.receive(hugz(5), now: start)
        #expect(cause(behind.effects) == .gap && quiet.missedUpdates == 2)
    }

    @Test("what the PUB drops is counted in every phase: while a resync is on its way, before the first update heard, and up to the snapshot")
    func dropsCountedWhileSyncing() throws {
        var sync = synced(["a"], seq: 10)
        let gap = sync.receive(update(12, "b"), now: start)
        let nonce = try #require(nonceOf(gap.effects))
        #expect(sync.gaps == 1 && sync.missedUpdates == 1)
        _ = sync.receive(update(13, "b"), now: start)
        _ = sync.receive(update(20, "b"), now: start)
        #expect(sync.missedUpdates == 7, "14...19 dropped while the snapshot was on its way")
        _ = sync.receive(hugz(25), now: start)
        #expect(sync.missedUpdates == 12, "21...25, known from the beat")
        _ = sync.receive(chunk: SnapshotHeader(seq: 30, epoch: "e1", nonce: nonce, last: true), SnapshotChunk(agents: [record("a")], requests: []), metrics: [], now: start)
        #expect(sync.isSynced && sync.seq == 30 && sync.missedUpdates == 17, "26...30 were due after the last one heard")
        #expect(sync.receive(update(31, "c"), now: start).changes.count == 1)
        #expect(sync.gaps == 1 && sync.missedUpdates == 17)

        // At the start: the first updates heard come after the snapshot's next one.
        var fresh = CloneSync(noncePrefix: "t")
        let first = try #require(nonceOf([fresh.requestSnapshot(reason: "start", cause: .start, now: start)]))
        _ = fresh.receive(update(8, "a"), now: start)
        _ = fresh.receive(update(9, "a"), now: start)
        #expect(fresh.missedUpdates == 0, "the first update heard only starts the count")
        let applied = fresh.receive(chunk: SnapshotHeader(seq: 5, epoch: "e1", nonce: first, last: true), SnapshotChunk(agents: [], requests: []), metrics: [], now: start)
        #expect(cause(applied.effects) == .gap && fresh.gaps == 1 && fresh.missedUpdates == 2, "6 and 7 never arrived")
    }

    @Test("a new epoch resyncs, and the owner hears of it once the new run's snapshot is in")
    func epochChange() throws {
        var sync = synced(["a"], seq: 10, epoch: "e1")
        let effects = sync.receive(update(1, "a", epoch: "e2"), now: start).effects
        #expect(cause(effects) == .epoch)
        let nonce = try #require(nonceOf(effects))
        let applied = sync.receive(chunk: SnapshotHeader(seq: 1, epoch: "e2", nonce: nonce, last: true), SnapshotChunk(agents: [record("a")], requests: []), metrics: [], now: start)
        #expect(applied.effects.contains { if case .epochChanged("e2", "e1") = $0 { true } else { false } })
        #expect(applied.changes.contains { if case .resynced("e2", 1) = $0 { true } else { false } })
        #expect(sync.epoch == "e2" && sync.seq == 1)
    }

    @Test("a snapshot with no chunk for the timeout is asked for again, each wait twice the last (up to the cap)")
    func snapshotTimeouts() {
        var sync = CloneSync(noncePrefix: "t")
        _ = sync.requestSnapshot(reason: "start", cause: .start, now: start)
        let early = sync.tick(now: start + .seconds(1))
        #expect(early == nil)
        var now = start + .seconds(3)
        let first = sync.tick(now: now)
        #expect(cause(first.map { [$0] } ?? []) == .timeout)
        let within = sync.tick(now: now + .seconds(3))
        #expect(within == nil, "the second wait is 4 s")
        now = now + .seconds(5)
        let second = sync.tick(now: now)
        #expect(second != nil && sync.snapshots == 3)
    }

    @Test("too many updates buffered while waiting for the snapshot: start over")
    func overflow() {
        var sync = CloneSync(noncePrefix: "t", maxPending: 100)
        _ = sync.requestSnapshot(reason: "start", cause: .start, now: start)
        var last: [CloneSync.Effect] = []
        for seq in 1...UInt64(101) {
            last = sync.receive(CloneSync.Update(header: UpdateHeader(seq: seq, epoch: "e1", op: .delete), body: .record(.agentDeleted("x"))), now: start).effects
        }
        #expect(cause(last) == .overflow)
    }

    @Test("metrics feed: latest wins by arrival, unknown agents skipped, buffered while syncing, lost batches counted, gone with the agent")
    func metricsFeed() throws {
        var sync = synced(["a", "b"], seq: 2)
        let header = { (seq: UInt64) in MetricsFeed.Header(epoch: "e1", seq: seq, count: 1) }
        let applied = sync.receive(metrics: header(1), entries: [try entry("a", seq: 5, at: 10), try entry("nobody", seq: 1, at: 10)], now: start)
        #expect(applied.count == 1 && sync.metrics["a"]?.snapshot.seq == 5 && sync.metrics["nobody"] == nil)
        _ = sync.receive(metrics: header(2), entries: [try entry("a", seq: 4, at: 9)], now: start)
        #expect(sync.metrics["a"]?.snapshot.seq == 5, "an older arrival does not replace a newer one")
        _ = sync.receive(metrics: header(5), entries: [try entry("b", seq: 1, at: 11)], now: start)
        #expect(sync.missedMetricBatches == 2, "batches 3 and 4 never came")
        #expect(sync.isSynced && sync.gaps == 0, "and no resync for them")
        // Deleted: its metrics go too.
        _ = sync.receive(CloneSync.Update(header: UpdateHeader(seq: 3, epoch: "e1", op: .delete), body: .record(.agentDeleted("b"))), now: start)
        #expect(sync.metrics["b"] == nil)
        // While a snapshot is on its way, entries wait and are applied after it (if newer).
        let effects = sync.receive(update(9, "c"), now: start).effects
        let nonce = try #require(nonceOf(effects))
        _ = sync.receive(metrics: header(6), entries: [try entry("a", seq: 7, at: 20)], now: start)
        _ = sync.receive(
            chunk: SnapshotHeader(seq: 9, epoch: "e1", nonce: nonce, last: true), SnapshotChunk(agents: [record("a"), record("c")], requests: []),
            metrics: [try entry("a", seq: 6, at: 15), try entry("c", seq: 1, at: 15)], now: start
        )
        #expect(sync.metrics["a"]?.snapshot.seq == 7 && sync.metrics["c"]?.snapshot.seq == 1)
    }

    @Test("the binary frames: update header, metrics batch, heartbeat event and heartbeat batch read back what was written; short frames are typed errors")
    func binaryFrames() throws {
        let header = UpdateHeader(seq: 1 << 40, epoch: "e-42", op: .delete)
        #expect(try UpdateHeader(binary: header.binary) == header)
        #expect(throws: ProtocolError.self) { try UpdateHeader(binary: Array(header.binary.dropLast())) }
        let entries = [try entry("a", seq: 3, at: 1.5), try entry("b", seq: 4, at: 2.25)]
        #expect(try MetricsFeed.decode(entries: MetricsFeed.encode(entries: entries)) == entries)
        #expect(throws: ProtocolError.self) { try MetricsFeed.decode(entries: Array(MetricsFeed.encode(entries: entries).dropLast(3))) }
        let feedHeader = MetricsFeed.Header(epoch: "e1", seq: 9, count: 2)
        #expect(try MetricsFeed.decodeHeader(MetricsFeed.encode(header: feedHeader)) == feedHeader)
        let beat = BusEvent.heartbeat(.init(
            gatewayId: "gw-1", sessionId: "s-1", agentId: "a-1",
            metrics: try RawSnapshot(MetricsSnapshot(timestamp: date, seq: 8, cpu: CPUMetrics(totalPercent: 42, perCorePercent: [42])))
        ))
        let frames = try beat.frames()
        #expect(frames.count == 6)
        #expect(try BusEvent(frames: frames) == beat)
        guard case .heartbeat(let read) = try BusEvent(frames: frames) else { return }
        #expect(read.vitals.cpuPercent == 42 && read.vitals.memoryUsedPercent == nil)
        #expect(throws: ProtocolError.self) { try BusEvent(frames: Array(frames.prefix(5))) }
        // A batch of heartbeats is one message that reads back as the beats it holds.
        guard case .heartbeat(let one) = beat else { return }
        var other = one
        other.sessionId = "s-2"
        other.agentId = "a-2"
        let batch = HeartbeatBatch(gatewayId: "gw-1", beats: [one, other])
        #expect(try BusEvent.all(frames: batch.frames()) == [beat, .heartbeat(other)])
        #expect(try BusEvent.all(frames: frames) == [beat], "a single heartbeat still reads")
        var truncated = batch.frames()
        truncated[2].removeLast(3)
        #expect(throws: ProtocolError.self) { try BusEvent.all(frames: truncated) }
        #expect(throws: ProtocolError.self) { try HeartbeatBatch(frames: Array(batch.frames().prefix(2))) }
        // Big batches are cut.
        let many = try (0..<1200).map { try entry("agent-\($0)", seq: UInt64($0), at: 1) }
        let batches = MetricsFeed.batches(many)
        #expect(batches.count == 3 && batches.map(\.count).reduce(0, +) == 1200)
    }
}
