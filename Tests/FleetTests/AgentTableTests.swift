import FleetProtocol
import Foundation
import Registry
import Testing

@Suite("Registry agent table: liveness rules and sequencing")
struct AgentTableTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    let info = AgentInfo(id: "web-1", hostname: "web-1.example", os: OSInfo(name: "Debian", version: "12", kernel: "6.1", arch: "x86_64"), agentVersion: "0.1.0")

    func metrics(_ seq: UInt64) -> MetricsSnapshot { MetricsSnapshot(timestamp: start, seq: seq) }
    func raw(_ seq: UInt64) -> RawSnapshot { try! RawSnapshot(metrics(seq)) }

    func opened(_ session: String, gateway: String = "gw-a") -> BusEvent {
        .sessionOpened(.init(gatewayId: gateway, sessionId: session, agent: info, metrics: metrics(1)))
    }

    func record(_ changes: [AgentRecord]) -> AgentRecord? {
        changes.last
    }

    @Test("hello -> online; heartbeat keeps it; close -> disconnected; silence -> offline; heartbeat -> online")
    func lifecycle() throws {
        var table = AgentTable()
        let online = try #require(record(table.apply(opened("s1"), now: start)))
        #expect(online.state == .online && online.gatewayId == "gw-a" && online.sessionId == "s1")

        // A heartbeat on the live session is no state change: time and metrics move on.
        let beat = table.heartbeat(.init(gatewayId: "gw-a", sessionId: "s1", agentId: "web-1", metrics: raw(2)), now: start + 10)
        #expect(beat == .accepted(changed: nil))
        #expect(table.metrics["web-1"]?.snapshot.seq == 2 && table.metrics["web-1"]?.at == start + 10)
        #expect(table.records["web-1"]?.lastSeen == start + 10)
        #expect(table.records["web-1"]?.metrics == nil, "the state record carries no snapshot")

        #expect(table.sweep(now: start + 100, timeout: 600).isEmpty)
        let offline = try #require(record(table.sweep(now: start + 611, timeout: 600)))
        #expect(offline.state == .offline)
        #expect(offline.stateReason == "no heartbeat for 600 s")

        let back = try #require(record(table.apply(.heartbeat(.init(gatewayId: "gw-a", sessionId: "s1", agentId: "web-1", metrics: raw(3))), now: start + 620)))
        #expect(back.state == .online && back.stateReason == "heartbeat resumed")

        let closed = try #require(record(table.apply(.sessionClosed(.init(gatewayId: "gw-a", sessionId: "s1", agentId: "web-1", reason: "socket closed")), now: start + 630)))
        #expect(closed.state == .disconnected && closed.sessionId == nil && closed.gatewayId == nil)
    }

    @Test("an agent moving to another gateway: the old session's late close changes nothing")
    func sessionMoves() throws {
        var table = AgentTable()
        _ = table.apply(opened("s1", gateway: "gw-a"), now: start)
        let moved = try #require(record(table.apply(opened("s2", gateway: "gw-b"), now: start + 1)))
        #expect(moved.gatewayId == "gw-b")
        let lateClose = table.apply(.sessionClosed(.init(gatewayId: "gw-a", sessionId: "s1", agentId: "web-1", reason: "socket closed")), now: start + 2)
        #expect(lateClose.isEmpty)
        #expect(table.records["web-1"]?.state == .online)
        // Heartbeats from the superseded session are ignored too.
        #expect(table.apply(.heartbeat(.init(gatewayId: "gw-a", sessionId: "s1", agentId: "web-1", metrics: raw(9))), now: start + 3).isEmpty)
    }

    @Test("a late heartbeat on the session its gateway reported closed keeps its sample but changes no state; one on a session a restarted registry never saw close brings the agent back; a superseded or revoked one does not")
    func heartbeatAfterClose() throws {
        var table = AgentTable()
        _ = table.apply(opened("s1"), now: start)
        _ = table.apply(.sessionClosed(.init(gatewayId: "gw-a", sessionId: "s1", agentId: "web-1", reason: "socket closed")), now: start + 1)
        #expect(table.records["web-1"]?.state == .disconnected)
        // Heartbeats travel on their own lane: one read before the close may arrive after it.
        #expect(table.apply(.heartbeat(.init(gatewayId: "gw-a", sessionId: "s1", agentId: "web-1", metrics: raw(2))), now: start + 2).isEmpty)
        #expect(table.records["web-1"]?.state == .disconnected && table.records["web-1"]?.sessionId == nil)
        #expect(table.metrics["web-1"]?.snapshot.seq == 2, "its sample is kept, not its claim to a live session")
        // A registry restarted with the agent disconnected: a socket that is still up (its
        // gateway carries its beats) brings it back online, on that session.
        var restarted = AgentTable(loading: Array(table.records.values))
        let back = try #require(record(restarted.apply(.heartbeat(.init(gatewayId: "gw-a", sessionId: "s1", agentId: "web-1", metrics: raw(2))), now: start + 2)))
        #expect(back.state == .online && back.sessionId == "s1" && back.gatewayId == "gw-a" && back.disconnectedAt == nil)
        table = restarted
        // A newer session exists: beats of the old one change nothing.
        _ = table.apply(opened("s2", gateway: "gw-b"), now: start + 3)
        #expect(table.apply(.heartbeat(.init(gatewayId: "gw-a", sessionId: "s1", agentId: "web-1", metrics: raw(3))), now: start + 4).isEmpty)
        #expect(table.records["web-1"]?.sessionId == "s2")
        // A revoked agent stays revoked whatever its old socket sends.
        _ = table.revoked("web-1", by: "admin", now: start + 5)
        _ = table.apply(.heartbeat(.init(gatewayId: "gw-b", sessionId: "s2", agentId: "web-1", metrics: raw(4))), now: start + 6)
        #expect(table.records["web-1"]?.state == .revoked)
    }

    @Test("a lost gateway disconnects only its own agents")
    func gatewayLost() throws {
        var table = AgentTable()
        _ = table.apply(opened("s1", gateway: "gw-a"), now: start)
        var other = info
        other.id = "db-1"
        _ = table.apply(.sessionOpened(.init(gatewayId: "gw-b", sessionId: "s2", agent: other, metrics: nil)), now: start)
        let updates = table.gatewayLost("gw-a", now: start + 5)
        #expect(updates.count == 1)
        #expect(record(updates)?.id == "web-1" && record(updates)?.state == .disconnected)
        #expect(table.records["db-1"]?.state == .online)

        // The gateway was only cut off: the next heartbeat on the same session revives the agent.
        let revived = record(table.apply(.heartbeat(.init(gatewayId: "gw-a", sessionId: "s1", agentId: "web-1", metrics: raw(4))), now: start + 8))
        #expect(revived?.state == .online && revived?.gatewayId == "gw-a")
    }

    @Test("removing an agent reports whether it was known")
    func removal() {
        var table = AgentTable()
        _ = table.apply(opened("s1"), now: start)
        let first = table.remove("web-1")
        let second = table.remove("web-1")
        #expect(first && !second)
        #expect(table.records.isEmpty && table.metrics.isEmpty)
    }

    @Test("loading a store: inline metrics of an older record move to the metrics table; the newest stored snapshot's time is its last sign of life")
    func loading() throws {
        var old = AgentRecord(info: info, state: .online, now: start)
        old.metrics = metrics(7)
        var other = info
        other.id = "db-1"
        let stored = AgentTable.LatestMetrics(snapshot: raw(9), vitals: MetricsVitals(), at: start + 50)
        let table = AgentTable(loading: [old, AgentRecord(info: other, state: .online, now: start)], metrics: ["db-1": stored, "gone": stored])
        #expect(table.records["web-1"]?.metrics == nil && table.metrics["web-1"]?.snapshot.seq == 7)
        #expect(table.records["db-1"]?.lastSeen == start + 50 && table.metrics["db-1"]?.snapshot.seq == 9)
        #expect(table.metrics["gone"] == nil, "metrics of an agent with no record are dropped")
    }
}
