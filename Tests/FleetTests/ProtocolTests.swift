import AgentCore
import FleetProtocol
import FleetSupport
import Foundation
import Testing

@Suite("Wire formats")
struct ProtocolTests {
    @Test("agent frames round-trip as flat tagged JSON")
    func agentFrames() throws {
        let hello = AgentMessage.hello(.init(
            agent: AgentInfo(id: "a-1", hostname: "h", os: OSInfo(name: "Linux", version: "1", kernel: "6", arch: "x86_64"), agentVersion: "0.1.0"),
            metrics: MetricsSnapshot(timestamp: Date(timeIntervalSince1970: 1_800_000_000.123), seq: 1)
        ))
        let text = try FleetJSON.encodeString(hello)
        #expect(text.contains("\"type\":\"hello\""))
        #expect(text.contains("2027-01-15T08:00:00.123Z"))
        // Millisecond precision on the wire: decoding and encoding again is stable.
        let decoded = try FleetJSON.decode(AgentMessage.self, from: text)
        #expect(try FleetJSON.encodeString(decoded, pretty: true) == FleetJSON.encodeString(hello, pretty: true))
        guard case .hello(let body) = decoded else { Issue.record("not a hello"); return }
        #expect(body.agent.id == "a-1" && body.metrics?.seq == 1)
    }

    @Test("an unknown frame type is a ProtocolError naming the type")
    func unknownType() {
        #expect(throws: ProtocolError.unknownType("reboot")) {
            try FleetJSON.decode(AgentMessage.self, from: #"{"type":"reboot"}"#)
        }
    }

    @Test("bus events: unknown kind and malformed body are refused clearly")
    func busEvents() throws {
        #expect(throws: ProtocolError.unknownType("session.exploded")) {
            try BusEvent(kind: "session.exploded", body: Array("{}".utf8))
        }
        #expect(throws: ProtocolError.self) { try BusEvent(kind: "session.closed", body: Array("{\"gatewayId\":1}".utf8)) }
        let event = BusEvent.sessionClosed(.init(gatewayId: "g", sessionId: "s", agentId: "a", reason: "r"))
        #expect(try BusEvent(kind: event.kind, body: event.encodedBody()) == event)
    }

    @Test("agent ids: safe characters only")
    func agentIDs() {
        #expect(AgentInfo.isValidID("74fb8302-7864-4769-9743-62a109f1193d"))
        #expect(AgentInfo.isValidID("web-1.example_2"))
        for bad in ["", ".hidden", "a/b", "../x", "a b", String(repeating: "x", count: 129), "ä"] {
            #expect(!AgentInfo.isValidID(bad), "\(bad) should be refused")
        }
    }

    @Test("backoff: full jitter under a ceiling that doubles up to the cap")
    func backoff() {
        let backoff = Backoff(base: 1, cap: 60)
        #expect((0...7).map { backoff.ceiling(failures: $0) } == [1, 2, 4, 8, 16, 32, 60, 60])
        let delays = (0..<200).map { _ in backoff.delay(failures: 3) }
        #expect(delays.allSatisfy { (0...8).contains($0) })
        #expect(Set(delays.map { Int($0) }).count > 3, "jittered, not constant")
    }

    @Test("identity: created once, reused, two state dirs are two agents")
    func identity() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("id-\(UUID().uuidString)").path
        let first = try AgentIdentity.loadOrCreate(stateDir: base + "/a")
        #expect(try AgentIdentity.loadOrCreate(stateDir: base + "/a") == first)
        #expect(try AgentIdentity.loadOrCreate(stateDir: base + "/b") != first)
        let attributes = try FileManager.default.attributesOfItem(atPath: base + "/a/agent-id")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test("rotating log file: rotates at the size, keeps max_backups")
    func rotation() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("log-\(UUID().uuidString)").path
        let file = try RotatingFile(path: dir + "/x/agent.log", maxBytes: 4096, maxBackups: 2)
        let line = String(repeating: "x", count: 99) + "\n"
        for _ in 0..<200 { file.write(line) }  // 20,000 bytes: rotates 4 times
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/x").sorted()
        #expect(names == ["agent.log", "agent.log.1", "agent.log.2"])
        for name in names {
            let size = try FileManager.default.attributesOfItem(atPath: dir + "/x/" + name)[.size] as? Int ?? 0
            #expect(size <= 4096 && size > 0)
        }
        #expect(file.failedWrites == 0)
    }
}
