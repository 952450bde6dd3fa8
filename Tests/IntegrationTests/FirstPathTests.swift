import FleetProtocol
import Foundation
import Testing

/// The first path through all three roles, on real processes: agent -> WebSocket ->
/// gateway -> ZeroMQ -> registry -> Clone replication -> every gateway's REST API.
@Suite("First path: agents to every gateway's API", .serialized)
struct FirstPathTests {
    @Test("split topology: registry, two gateways, worker; two agents on different gateways show on both")
    func splitTopology() async throws {
        try await withCluster("split") { cluster in
            let (_, gateways) = try await cluster.startSplit(workers: 1)
            let (gatewayA, gatewayB) = (gateways[0], gateways[1])
            let (agent1, id1) = try await cluster.startAgent("agent-1", urls: [gatewayA.ws])
            let (_, id2) = try await cluster.startAgent("agent-2", urls: [gatewayB.ws])

            let bothOnline = await eventually(timeout: .seconds(15)) {
                for gateway in [gatewayA, gatewayB] {
                    let states = try await cluster.states(gateway)
                    guard states[id1] == .online, states[id2] == .online else { return false }
                }
                return true
            }
            try #require(bothOnline, "both gateways should list both agents online\n\(cluster.logs())")

            // The metrics are real: the memory total is this host's MemTotal.
            let memTotal = try memTotalBytes()
            for gateway in [gatewayA, gatewayB] {
                let records = try await cluster.agents(gateway)
                for record in records {
                    #expect(record.metrics?.memory?.totalBytes == memTotal)
                    #expect(record.metrics?.cpu != nil)
                    #expect(record.metrics?.filesystems?.contains { $0.mountPoint == "/" } == true)
                    #expect((record.metrics?.uptimeSeconds ?? 0) > 0)
                    // Every family: network per interface (loopback at least), load, boot time, own RSS.
                    #expect(record.metrics?.network?.contains { $0.name == "lo" } == true)
                    #expect(record.metrics?.cpu?.load1 != nil && record.metrics?.bootTime != nil)
                    #expect((record.metrics?.agentRSSBytes ?? 0) > 0)
                    #expect(record.os.kernel.isEmpty == false && record.os.arch.isEmpty == false)
                }
                #expect(records.first { $0.id == id1 }?.gatewayId == gatewayA.id)
                #expect(records.first { $0.id == id2 }?.gatewayId == gatewayB.id)
            }

            // SIGKILL one agent: both gateways show it disconnected within 2 s, the other unaffected.
            agent1.signal(SIGKILL)
            let killedAt = ContinuousClock.now
            let seenDisconnected = await eventually(timeout: .seconds(2)) {
                for gateway in [gatewayA, gatewayB] {
                    let states = try await cluster.states(gateway)
                    guard states[id1] == .disconnected, states[id2] == .online else { return false }
                }
                return true
            }
            let elapsed = ContinuousClock.now - killedAt
            #expect(seenDisconnected, "agent 1 disconnected on both gateways within 2 s (took \(elapsed))\n\(cluster.logs())")
            // And it stays that way: agent 2 keeps heartbeating through it.
            let record2 = try await cluster.agents(gatewayA).first { $0.id == id2 }
            #expect(record2?.state == .online)
        }
    }

    @Test("all-in-one: master serve with two agents shows both online with real metrics; SIGKILL shows within 2 s")
    func serveTopology() async throws {
        try await withCluster("serve") { cluster in
            let master = try await cluster.startServe()
            let (agent1, id1) = try await cluster.startAgent("agent-1", urls: [master.ws])
            let (_, id2) = try await cluster.startAgent("agent-2", urls: [master.ws])
            #expect(id1 != id2, "two state dirs, two agents")

            let bothOnline = await eventually(timeout: .seconds(15)) {
                let states = try await cluster.states(master)
                return states[id1] == .online && states[id2] == .online
            }
            try #require(bothOnline, "\(cluster.logs())")
            let memTotal = try memTotalBytes()
            let records = try await cluster.agents(master)
            #expect(records.count == 2)
            #expect(records.allSatisfy { $0.metrics?.memory?.totalBytes == memTotal })

            // Detail endpoint and its 404.
            let (status, body) = try await HTTP.get("\(master.http)/api/v1/agents/\(id1)", token: cluster.adminToken)
            #expect(status == 200)
            #expect(try FleetJSON.decoder().decode(AgentRecord.self, from: body).id == id1)
            let (missing, errorBody) = try await HTTP.get("\(master.http)/api/v1/agents/no-such-agent", token: cluster.adminToken)
            #expect(missing == 404)
            #expect(try JSONDecoder().decode(APIErrorBody.self, from: errorBody).error.code == "not_found")

            agent1.signal(SIGKILL)
            let seen = await eventually(timeout: .seconds(2)) {
                let states = try await cluster.states(master)
                return states[id1] == .disconnected && states[id2] == .online
            }
            #expect(seen, "\(cluster.logs())")
        }
    }

    @Test("a restarted gateway rebuilds its replica from the registry and answers the same list")
    func gatewayRestart() async throws {
        try await withCluster("restart") { cluster in
            let (bus, gateways) = try await cluster.startSplit()
            let (gatewayA, gatewayB) = (gateways[0], gateways[1])
            let (_, id1) = try await cluster.startAgent("agent-1", urls: [gatewayA.ws])
            let (_, id2) = try await cluster.startAgent("agent-2", urls: [gatewayB.ws])
            let online = await eventually(timeout: .seconds(15)) {
                let states = try await cluster.states(gatewayA)
                return states[id1] == .online && states[id2] == .online
            }
            try #require(online, "\(cluster.logs())")

            // Graceful restart of gateway B on the same port: agent 2 is told "going away",
            // reconnects to the new process, and the new replica starts from a snapshot.
            await gatewayB.process.stop()
            #expect(gatewayB.process.terminationStatus == 0, "graceful exit\n\(gatewayB.process.stderr)")
            // Its port held until the new gateway binds it (another test's outgoing connection could take it).
            let (reservation, _) = try AlertTests().reservePort(gatewayB.port)
            defer { close(reservation) }
            let restarted = try await cluster.startGateway("gateway-b2", bus: bus, port: gatewayB.port)

            let converged = await eventually(timeout: .seconds(15)) {
                let fromA = try await cluster.states(gatewayA)
                let fromB = try await cluster.states(restarted)
                return fromB == fromA && fromB[id1] == .online && fromB[id2] == .online
            }
            #expect(converged, "restarted gateway's list equals gateway A's, both agents online\n\(cluster.logs())")
            let (status, body) = try await HTTP.get("\(restarted.http)/readyz")
            #expect(status == 200, "\(String(decoding: body, as: UTF8.self))")
            let listA = try await cluster.agents(gatewayA)
            let listB = try await cluster.agents(restarted)
            #expect(listA.map(\.id) == listB.map(\.id))
            #expect(listB.first { $0.id == id2 }?.gatewayId == restarted.id)
        }
    }
}
