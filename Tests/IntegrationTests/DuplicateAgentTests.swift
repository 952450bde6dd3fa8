import FleetProtocol
import Foundation
import Testing

/// Two live connections with one agent id (a cloned VM with its state directory): the
/// newest wins, the older is closed with a clear reason, and nothing else stalls. The seed
/// deadlocked here.
@Suite("Duplicate agent ids", .serialized)
struct DuplicateAgentTests {
    @Test("the newest connection wins, the older is closed with a reason, others unaffected")
    func newestWins() async throws {
        try await withCluster("duplicate") { cluster in
            let (_, gateways) = try await cluster.startSplit()
            let (gatewayA, gatewayB) = (gateways[0], gateways[1])
            let (original, id) = try await cluster.startAgent("original", urls: [gatewayA.ws])
            let (_, bystander) = try await cluster.startAgent("bystander", urls: [gatewayB.ws])
            let ready = await eventually(timeout: .seconds(15)) {
                let states = try await cluster.states(gatewayB)
                return states[id] == .online && states[bystander] == .online
            }
            try #require(ready, "\(cluster.logs())")

            // A whole clone: the id and the agent's own credential (the enrollment token alone
            // cannot claim an enrolled id; AgentCredentialTests proves that).
            let (clone, cloneID) = try await cluster.startAgent("clone", urls: [gatewayB.ws], id: id, copyingCredentialFrom: "original")
            #expect(cloneID == id)

            // The record moves to the clone's gateway; the original hears why it was closed.
            var apiAlwaysAnswered = true
            let moved = await eventually(timeout: .seconds(10)) {
                for gateway in [gatewayA, gatewayB] {
                    guard let records = try? await cluster.agents(gateway) else {
                        apiAlwaysAnswered = false
                        return false
                    }
                    guard records.first(where: { $0.id == id })?.gatewayId == gatewayB.id,
                        records.first(where: { $0.id == id })?.state == .online,
                        records.first(where: { $0.id == bystander })?.state == .online
                    else { return false }
                }
                return original.stderr.contains("another agent is using this agent's id")
            }
            #expect(moved, "\(cluster.logs())")
            #expect(apiAlwaysAnswered)
            #expect(original.isRunning, "the superseded agent keeps running and waits, it does not crash")
            #expect(clone.isRunning)

            // It stays settled: the original waits at least a minute before trying again, so
            // the record must not flap back while we watch for two seconds. A gateway that
            // cannot answer fails the watch: that is not "did not flap".
            #expect(await never(within: .seconds(2)) {
                for gateway in [gatewayA, gatewayB] {
                    let record = try await cluster.agents(gateway).first { $0.id == id }
                    if record?.gatewayId != gatewayB.id || record?.state != .online { return true }
                }
                return false
            }, "the record moved back or went offline: \(cluster.logs())")
            #expect(try await cluster.agents(gatewayA).first { $0.id == bystander }?.state == .online)
        }
    }
}
