import FleetProtocol
import Foundation
import Logging
@testable import Registry
import Testing

/// The registry's decisions, driven directly (issue 13): no sockets, no processes, no sleeps.
/// Time is passed in; effects are what the service would carry out.
@Suite("Registry core: decisions as effects")
struct RegistryCoreTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    let instant = ContinuousClock.now
    let info = AgentInfo(id: "web-1", hostname: "web-1.example", os: OSInfo(name: "Debian", version: "12", kernel: "6.1", arch: "x86_64"), agentVersion: "0.1.0")

    func core(
        requests: RequestTable.Settings = .init(), rules: [AlertRule] = [], table: AgentTable = AgentTable(), historyInterval: Double = 0
    ) -> RegistryCore {
        RegistryCore(
            settings: .init(heartbeatTimeout: .seconds(600), peerTimeout: .seconds(5), alertRetention: 60, historyInterval: historyInterval),
            requests: RequestTable(settings: requests), table: table, alertEngine: AlertEngine(rules: rules),
            access: AccessTable(settings: .init(enabled: false)), tokens: ReplyTokens(secret: Array("secret".utf8)), startedAt: instant,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
    }

    func snapshot(_ seq: UInt64, cpu: Double = 10) -> MetricsSnapshot {
        MetricsSnapshot(timestamp: start, seq: seq, cpu: CPUMetrics(totalPercent: cpu, perCorePercent: [cpu]))
    }

    func opened(_ session: String, gateway: String = "gw-a") -> BusEvent {
        .sessionOpened(.init(gatewayId: gateway, sessionId: session, agent: info, metrics: snapshot(1)))
    }

    func beat(_ session: String, seq: UInt64, gateway: String = "gw-a", cpu: Double = 10) throws -> BusEvent {
        .heartbeat(.init(gatewayId: gateway, sessionId: session, agentId: info.id, metrics: try RawSnapshot(snapshot(seq, cpu: cpu))))
    }

    // Effect readers.
    func changes(_ effects: [RegistryEffect]) -> [RegistryChange] {
        effects.compactMap { if case .change(let change) = $0 { change } else { nil } }
    }
    func agents(_ effects: [RegistryEffect]) -> [AgentRecord] {
        changes(effects).compactMap { if case .agent(let record) = $0.record { record } else { nil } }
    }
    func requestChanges(_ effects: [RegistryEffect]) -> [RequestRecord] {
        changes(effects).compactMap { if case .request(let record) = $0.record { record } else { nil } }
    }
    func commands(_ effects: [RegistryEffect]) -> [(String, GatewayCommand)] {
        effects.compactMap { if case .command(let gateway, let command) = $0 { (gateway, command) } else { nil } }
    }
    func history(_ effects: [RegistryEffect]) -> [RawSnapshot] {
        effects.compactMap { if case .history(_, let snapshot) = $0 { snapshot } else { nil } }
    }

    @Test("a heartbeat on the live session changes no state: a history row, and one coalesced feed entry per agent per interval")
    func heartbeatsApart() throws {
        var core = core()
        let open = core.handle(opened("s1"), now: start, instant: instant)
        let online = try #require(agents(open).last)
        #expect(online.state == .online && online.metrics == nil, "state is replicated without the snapshot")
        #expect(history(open).map(\.seq) == [1], "the hello's snapshot goes to the history")
        let first = open.compactMap { if case .metrics(_, let entries) = $0 { Array(entries) } else { nil } }
        #expect(first.map { $0.map(\.snapshot.seq) } == [[1]], "and to the feed at once, right behind the state")
        var beats: [RegistryEffect] = []
        for seq: UInt64 in 2...4 { beats += core.handle(try beat("s1", seq: seq), now: start + Double(seq), instant: instant) }
        #expect(changes(beats).isEmpty, "no Clone update for a heartbeat")
        #expect(history(beats).map(\.seq) == [2, 3, 4])
        #expect(core.seq == UInt64(changes(open).count))
        let flushed = core.flushMetrics()
        guard case .metrics(let feedSeq, let entries)? = flushed.first else {
            Issue.record("no metrics batch: \(flushed)")
            return
        }
        #expect(flushed.count == 1 && feedSeq == 2)
        #expect(entries.map(\.snapshot.seq) == [4] && entries.first?.at == start + 4, "latest wins, with its arrival time")
        #expect(core.flushMetrics().isEmpty, "nothing new, nothing sent")
        #expect(core.table.records[info.id]?.lastSeen == start + 4)
    }

    @Test("the history keeps one snapshot per agent per store.history_interval; the feed still carries every latest one; a new session's first is kept")
    func historyResolution() throws {
        var core = core(historyInterval: 60)
        #expect(history(core.handle(opened("s1"), now: start, instant: instant)).map(\.seq) == [1])
        var kept: [UInt64] = []
        // A beat every 10 s for 3 minutes: rows at 60, 120, 180 s (the hello's at 0).
        for seq: UInt64 in 2...19 {
            kept += history(core.handle(try beat("s1", seq: seq), now: start + Double(seq - 1) * 10, instant: instant)).map(\.seq)
        }
        #expect(kept == [7, 13, 19])
        let feed = core.flushMetrics().compactMap { if case .metrics(_, let entries) = $0 { Array(entries) } else { nil } }.joined()
        #expect(feed.map(\.snapshot.seq) == [19], "every beat is applied; only the stored rows are thinned")
        // Beats at the resolution, early or late by a little: all kept (the slack is a tenth).
        kept = []
        for (index, offset) in [-3.0, 2, -3, 1].enumerated() {
            let at = start + 180 + Double(index + 1) * 60 + offset
            kept += history(core.handle(try beat("s1", seq: 20 + UInt64(index)), now: at, instant: instant)).map(\.seq)
        }
        #expect(kept == [20, 21, 22, 23])
        // A new session keeps its first snapshot at once, and the clock starts from it.
        #expect(history(core.handle(opened("s2"), now: start + 425, instant: instant)).map(\.seq) == [1])
        #expect(history(core.handle(try beat("s2", seq: 2), now: start + 430, instant: instant)).isEmpty)
        // 0 keeps every beat.
        var every = self.core(historyInterval: 0)
        _ = every.handle(opened("s1"), now: start, instant: instant)
        let all = try (2...5).flatMap { (seq: UInt64) in history(every.handle(try beat("s1", seq: seq), now: start + Double(seq) * 0.1, instant: instant)) }
        #expect(all.map(\.seq) == [2, 3, 4, 5])
    }

    @Test("each change is encoded once: the body is the record's JSON, the same bytes for the store and the PUB")
    func encodedOnce() throws {
        var core = core()
        let change = try #require(changes(core.handle(opened("s1"), now: start, instant: instant)).last)
        #expect(change.topic == "agent.web-1" && change.op == .upsert && change.seq == core.seq)
        let decoded = try FleetJSON.decode(AgentRecord.self, from: change.body)
        guard case .agent(let record) = change.record else {
            Issue.record("not an agent change")
            return
        }
        #expect(decoded == record)
    }

    @Test("superseded sessions: the newest wins, the older is told to close, and again when it beats")
    func superseded() throws {
        var core = core()
        _ = core.handle(opened("s1", gateway: "gw-a"), now: start, instant: instant)
        let second = core.handle(opened("s2", gateway: "gw-b"), now: start + 1, instant: instant)
        let close = try #require(commands(second).first)
        guard case .closeSession(let command) = close.1 else {
            Issue.record("not a close: \(close.1)")
            return
        }
        #expect(close.0 == "gw-a" && command.sessionId == "s1" && command.code == FleetCloseCode.superseded)
        #expect(agents(second).last?.gatewayId == "gw-b")
        let late = core.handle(try beat("s1", seq: 5, gateway: "gw-a"), now: start + 2, instant: instant)
        #expect(commands(late).map(\.0) == ["gw-a"], "the close was lost (PUB is lossy): sent again")
        #expect(changes(late).isEmpty && history(late).isEmpty, "the old session's beat is not applied")
    }

    @Test("a request for an agent that is away waits; it is dispatched when the agent opens a session")
    func dispatchOnOpen() throws {
        var core = core()
        _ = core.handle(opened("s1"), now: start, instant: instant)
        _ = core.handle(.sessionClosed(.init(gatewayId: "gw-a", sessionId: "s1", agentId: info.id, reason: "socket closed")), now: start + 1, instant: instant)
        let created = core.handle(.requestCreated(.init(requestId: "r-1", agentId: info.id, kind: .status, args: .object([:]))), now: start + 2, instant: instant)
        #expect(requestChanges(created).map(\.state) == [.pending])
        #expect(commands(created).isEmpty)
        let back = core.handle(opened("s2", gateway: "gw-b"), now: start + 3, instant: instant)
        #expect(requestChanges(back).map(\.state) == [.dispatched])
        let callback = try #require(commands(back).first)
        guard case .callback(let command) = callback.1 else {
            Issue.record("not a callback: \(callback.1)")
            return
        }
        #expect(callback.0 == "gw-b" && command.sessionId == "s2" && command.frame.requestId == "r-1")
    }

    @Test("request attempts: re-sent at each deadline while attempts remain, then failed with the reason")
    func retriesAndBudget() throws {
        var core = core(requests: .init(attemptTimeout: 10, maxAttempts: 2))
        _ = core.handle(opened("s1"), now: start, instant: instant)
        let created = core.handle(.requestCreated(.init(requestId: "r-1", agentId: info.id, kind: .status, args: .object([:]))), now: start, instant: instant)
        #expect(commands(created).count == 1)
        #expect(core.sweepRequests(now: start + 5).isEmpty, "before the deadline nothing happens")
        let retry = core.sweepRequests(now: start + 11)
        #expect(commands(retry).count == 1 && requestChanges(retry).last?.attempts == 2)
        let failed = core.sweepRequests(now: start + 22)
        let record = try #require(requestChanges(failed).last)
        #expect(record.state == .failed && record.error?.contains("2 attempt(s)") == true, "\(record.error ?? "")")
        #expect(commands(failed).isEmpty)
    }

    @Test("a connected agent cannot be deleted; a disconnected one is, with its metrics, and nothing of it is fed after")
    func deletes() throws {
        var core = core()
        _ = core.handle(opened("s1"), now: start, instant: instant)
        _ = core.handle(try beat("s1", seq: 2), now: start + 1, instant: instant)
        #expect(changes(core.handle(.agentDelete(.init(agentId: info.id)), now: start + 2, instant: instant)).isEmpty)
        _ = core.handle(.sessionClosed(.init(gatewayId: "gw-a", sessionId: "s1", agentId: info.id, reason: "socket closed")), now: start + 3, instant: instant)
        let deleted = try #require(changes(core.handle(.agentDelete(.init(agentId: info.id)), now: start + 4, instant: instant)).last)
        #expect(deleted.op == .delete && deleted.topic == "agent.web-1" && deleted.body.isEmpty)
        #expect(core.table.records[info.id] == nil && core.table.metrics[info.id] == nil)
        #expect(core.flushMetrics().isEmpty, "the deleted agent's pending feed entry went with it")
    }

    @Test("alerts read the vitals the gateway carried: fire above the threshold, resolve below it")
    func alerts() throws {
        var core = core(rules: [AlertRule(name: "cpu-hot", kind: .cpu, above: 50, for: 0)])
        _ = core.handle(opened("s1"), now: start, instant: instant)
        _ = core.handle(try beat("s1", seq: 2, cpu: 90), now: start + 1, instant: instant)
        let fired = core.evaluateAlerts(now: start + 2)
        let alert = try #require(changes(fired).compactMap { if case .alert(let alert) = $0.record { alert } else { nil } }.first)
        #expect(alert.state == .firing && alert.value == 90 && alert.id == "cpu-hot:web-1")
        #expect(fired.contains { if case .alert = $0 { true } else { false } }, "the webhooks are told")
        _ = core.handle(try beat("s1", seq: 3, cpu: 10), now: start + 3, instant: instant)
        let resolved = core.evaluateAlerts(now: start + 4)
        let states = changes(resolved).compactMap { change -> AlertRecord.State? in
            if case .alert(let alert) = change.record { alert.state } else { nil }
        }
        #expect(states == [.resolved])
    }

    @Test("a restart from the store: gateways the table names but this run never hears from are lost after the peer timeout")
    func restartReload() throws {
        var stored = AgentRecord(info: info, state: .online, now: start)
        stored.gatewayId = "gw-a"
        stored.sessionId = "s1"
        var core = core(table: AgentTable(loading: [stored]))
        #expect(core.sweepPeers(instant: instant + .seconds(3), now: start + 3).isEmpty, "within the peer timeout: wait")
        // gw-b beats; gw-a never does.
        _ = core.handle(.gatewayHeartbeat(.init(gatewayId: "gw-b", sessions: 0, httpURL: nil)), now: start + 4, instant: instant + .seconds(4))
        let lost = agents(core.sweepPeers(instant: instant + .seconds(6), now: start + 6))
        #expect(lost.map(\.state) == [.disconnected] && lost.first?.stateReason == "gateway gw-a lost")
        // If gw-a was only cut off, the session's next beat brings the agent back.
        let back = agents(core.handle(try beat("s1", seq: 9), now: start + 7, instant: instant + .seconds(7)))
        #expect(back.last?.state == .online && back.last?.stateReason == "heartbeat resumed")
    }

    @Test("the HUGZ beat carries the sequence of the last change")
    func hugz() throws {
        var core = core()
        _ = core.handle(opened("s1"), now: start, instant: instant)
        guard case .hugz(let seq)? = core.beat().first else {
            Issue.record("no beat")
            return
        }
        #expect(seq == core.seq && seq > 0)
    }
}
