import FleetProtocol
import Foundation
import Testing

/// Liveness with short timeouts, and the limits on what a connection may send.
@Suite("Liveness and limits", .serialized)
struct LivenessTests {
    @Test("a connection that stays open but sends no heartbeats becomes offline; a heartbeat brings it back")
    func silentAgentGoesOffline() async throws {
        try await withCluster("liveness") { cluster in
            let master = try await cluster.startServe(["--set", "heartbeat.timeout=2", "--set", "heartbeat.cleanup_interval=1"])
            let agent = cluster.testAgent()
            guard case .welcome = try await agent.connect(url: master.ws, token: cluster.agentToken) else {
                Issue.record("not welcomed")
                return
            }
            // Known and connected (it may already be offline again when a busy machine looks).
            #expect(await eventually(timeout: .seconds(5)) { try await cluster.agents(master).first { $0.id == agent.id }?.connectedAt != nil })
            // Say nothing: the socket is open, the sweep must still notice the silence.
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.states(master)[agent.id] == .offline }, "\(cluster.logs())")
            let record = try await cluster.agents(master).first { $0.id == agent.id }
            #expect(record?.stateReason?.contains("no heartbeat") == true)
            // Beating on every look: one beat keeps it online for only the 2 s timeout, which a
            // busy run could spend before its first look.
            var seq: UInt64 = 1
            #expect(await eventually(timeout: .seconds(10)) {
                seq += 1
                try await agent.send(.heartbeat(.init(metrics: MetricsSnapshot(timestamp: Date(), seq: seq))))
                return try await cluster.states(master)[agent.id] == .online
            })
            await agent.close()
        }
    }

    @Test("an agent moving to another gateway keeps one record, online, with the new gateway")
    func agentMovesGateway() async throws {
        try await withCluster("move") { cluster in
            let (_, gateways) = try await cluster.startSplit()
            let (gatewayA, gatewayB) = (gateways[0], gateways[1])
            // Failover list: A first, then B.
            let (_, id) = try await cluster.startAgent("agent", urls: [gatewayA.ws, gatewayB.ws])
            #expect(await eventually(timeout: .seconds(15)) {
                try await cluster.agents(gatewayB).first { $0.id == id }?.gatewayId == gatewayA.id
            })
            await gatewayA.process.stop()
            #expect(await eventually(timeout: .seconds(15)) {
                let record = try await cluster.agents(gatewayB).first { $0.id == id }
                return record?.gatewayId == gatewayB.id && record?.state == .online
            }, "\(cluster.logs())")
            #expect(try await cluster.agents(gatewayB).filter { $0.id == id }.count == 1)
        }
    }

    @Test("an oversized WebSocket frame closes that session with 1009; others keep working")
    func oversizedFrame() async throws {
        try await withCluster("oversize-ws") { cluster in
            let master = try await cluster.startServe(["--set", "gateway.max_frame_bytes=65536"])
            let big = cluster.testAgent(), bystander = cluster.testAgent()
            _ = try await big.connect(url: master.ws, token: cluster.agentToken)
            _ = try await bystander.connect(url: master.ws, token: cluster.agentToken)
            try await big.sendRaw(String(repeating: "x", count: 200_000))
            let close = await big.closeCode(timeout: .seconds(10))
            #expect(close == 1009, "close code \(String(describing: close))")
            #expect(await eventually(timeout: .seconds(5)) { try await cluster.states(master)[big.id] == .disconnected })
            try await bystander.send(.heartbeat(.init(metrics: MetricsSnapshot(timestamp: Date(), seq: 9))))
            #expect(await eventually(timeout: .seconds(5)) {
                try await cluster.agents(master).first { $0.id == bystander.id }?.metrics?.seq == 9
            })
            await bystander.close()
        }
    }

    @Test("an oversized callback reply is 413, never truncated")
    func oversizedReply() async throws {
        try await withCluster("oversize-reply") { cluster in
            let master = try await cluster.startServe()
            let agent = cluster.testAgent()
            _ = try await agent.connect(url: master.ws, token: cluster.agentToken)
            #expect(await eventually(timeout: .seconds(5)) { try await cluster.states(master)[agent.id] == .online })
            _ = try await cluster.callback(master, agent: agent.id, kind: "status")
            let callback = try await agent.nextCallback()
            let huge = Data("{\"ok\":true,\"result\":\"".utf8) + Data(repeating: UInt8(ascii: "a"), count: 17 * 1_048_576) + Data("\"}".utf8)
            let (status, body) = try await HTTP.post("\(master.http)/api\(callback.replyPath)", token: callback.replyToken, body: huge)
            #expect(status == 413, "\(String(decoding: body.prefix(200), as: UTF8.self))")
            #expect(try await cluster.request(master, id: callback.requestId)?.state == .dispatched, "still waiting for a usable reply")
            await agent.close()
        }
    }
}
