import FleetProtocol
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import Testing

/// The registry keeps its state in SQLite: a restart loses no agent, no finished request and
/// no history, and flags no agent falsely while it is away.
@Suite("Persistence", .serialized)
struct PersistenceTests {
    @Test("registry restarted with agents connected: all online again, history and finished requests intact, nobody falsely flagged")
    func registryRestart() async throws {
        try await withCluster("registry-restart") { cluster in
            let (bus, gateways) = try await cluster.startSplit(workers: 1)
            let (gatewayA, gatewayB) = (gateways[0], gateways[1])
            let (_, id1) = try await cluster.startAgent("agent-1", urls: [gatewayA.ws])
            let (_, id2) = try await cluster.startAgent("agent-2", urls: [gatewayB.ws])
            #expect(await eventually(timeout: .seconds(15)) {
                let states = try await cluster.states(gatewayA)
                return states[id1] == .online && states[id2] == .online
            }, "\(cluster.logs())")

            let (status, body) = try await cluster.callback(gatewayA, agent: id2, kind: "status", wait: 20)
            #expect(status == 200)
            let finished = try FleetJSON.decoder().decode(RequestRecord.self, from: body)
            #expect(finished.state == .completed)
            // A few heartbeats of history (1 s apart).
            #expect(await eventually(timeout: .seconds(10)) { try await history(cluster, gatewayB, id1).count >= 3 })
            let historyBefore = try await history(cluster, gatewayB, id1)

            // Watch both gateways for the whole restart, until both have recovered: any state but
            // online is a false flag, and so is any answer but 200 (a gateway that cannot say
            // who is online has not shown that nobody was flagged).
            let restartOver = Mutex(false)
            async let nobodyFlagged = never(within: .seconds(60), until: { restartOver.withLock { $0 } }) {
                for gateway in [gatewayA, gatewayB] {
                    let states = try await cluster.states(gateway)
                    for id in [id1, id2] where states[id] != .online {
                        Issue.record("false flag: \(id) \(states[id].map(\.rawValue) ?? "missing") on \(gateway.id)")
                        return true
                    }
                }
                return false
            }

            let registry = try #require(cluster.process(named: "registry"))
            await registry.stop()
            #expect(registry.terminationStatus == 0, "\(registry.stderr)")
            _ = try await cluster.startRegistry(name: "registry-2", bus: bus)

            // Both gateways resync to the new run (a new epoch) and both agents are online there.
            let recovered = await eventually(timeout: .seconds(15)) {
                for gateway in [gatewayA, gatewayB] {
                    let (ready, readyBody) = try await HTTP.get("\(gateway.http)/readyz")
                    let text = String(decoding: readyBody, as: UTF8.self)
                    guard ready == 200, text.contains("\"resyncs\":1") || text.contains("\"resyncs\":2") else { return false }
                    let states = try await cluster.states(gateway)
                    guard states[id1] == .online, states[id2] == .online else { return false }
                }
                return true
            }
            #expect(recovered, "\(cluster.logs())")
            // Heartbeats keep landing on the new run.
            #expect(await eventually(timeout: .seconds(10)) {
                try await history(cluster, gatewayA, id1).count > historyBefore.count + 1
            })
            restartOver.withLock { $0 = true }
            #expect(await nobodyFlagged, "a gateway flagged an agent or failed to answer during the registry restart")

            let afterRestart = try await cluster.request(gatewayB, id: finished.id)
            #expect(afterRestart?.state == .completed)
            #expect(afterRestart?.result == finished.result)
            let historyAfter = try await history(cluster, gatewayA, id1)
            #expect(Array(historyAfter.prefix(historyBefore.count)).map(\.seq) == historyBefore.map(\.seq), "history from before the restart is intact")

            // And the restarted registry still serves callbacks.
            let (again, _) = try await cluster.callback(gatewayB, agent: id1, kind: "status", wait: 20)
            #expect(again == 200)
        }
    }

    @Test("metrics history: ?since filters, bad since is 400, unknown agent 404; DELETE forgets an agent that is gone, refuses one online")
    func historyAndDelete() async throws {
        try await withCluster("history") { cluster in
            let master = try await cluster.startServe()
            let (agent, id) = try await cluster.startAgent("agent", urls: [master.ws])
            #expect(await eventually(timeout: .seconds(10)) { try await history(cluster, master, id).count >= 3 })
            let all = try await history(cluster, master, id)
            try #require(all.count >= 3)
            let cut = all[1].timestamp
            let since = try await history(cluster, master, id, since: FleetJSON.format(cut))
            #expect(since.first?.seq == all[1].seq)
            #expect(since.allSatisfy { $0.timestamp >= cut })
            #expect(try await HTTP.get("\(master.http)/api/v1/agents/\(id)/metrics?since=yesterday", token: cluster.adminToken).status == 400)
            #expect(try await HTTP.get("\(master.http)/api/v1/agents/nobody/metrics", token: cluster.adminToken).status == 404)

            #expect(try await delete(cluster, master, id) == 409, "online agents are not deleted")
            agent.signal(SIGKILL)
            #expect(await eventually(timeout: .seconds(5)) { try await cluster.states(master)[id] == .disconnected })
            #expect(try await delete(cluster, master, id) == 202)
            #expect(await eventually(timeout: .seconds(5)) { try await cluster.states(master)[id] == nil })
            #expect(try await delete(cluster, master, id) == 404)
        }
    }

    /// An agent's metrics history; anything but 200 throws (with the answer).
    func history(_ cluster: Cluster, _ gateway: Cluster.Gateway, _ id: String, since: String? = nil) async throws -> [MetricsSnapshot] {
        struct History: Decodable { var agentId: String; var metrics: [MetricsSnapshot] }
        let query = since.map { "?since=\($0)" } ?? ""
        let (status, body) = try await HTTP.get("\(gateway.http)/api/v1/agents/\(id)/metrics\(query)", token: cluster.adminToken)
        guard status == 200 else { throw HarnessError("GET metrics of \(id) on \(gateway.id): HTTP \(status) \(String(decoding: body, as: UTF8.self))") }
        return try FleetJSON.decoder().decode(History.self, from: body).metrics
    }

    func delete(_ cluster: Cluster, _ gateway: Cluster.Gateway, _ id: String) async throws -> Int {
        var request = URLRequest(url: URL(string: "\(gateway.http)/api/v1/agents/\(id)")!)
        request.httpMethod = "DELETE"
        request.setValue("Bearer \(cluster.adminToken)", forHTTPHeaderField: "Authorization")
        let (_, response) = try await HTTP.session.data(for: request)
        return (response as? HTTPURLResponse)?.statusCode ?? 0
    }
}
