import FleetProtocol
import Foundation
import Testing

/// The callback mechanism (DESIGN.md section 3) across separate processes.
@Suite("Callbacks", .serialized)
struct CallbackTests {
    @Test("a status callback made on gateway A for an agent on gateway B completes; ?wait returns it")
    func statusAcrossGateways() async throws {
        try await withCluster("callback-status") { cluster in
            let (_, gateways) = try await cluster.startSplit(workers: 2)
            let (gatewayA, gatewayB) = (gateways[0], gateways[1])
            let (_, id) = try await cluster.startAgent("agent", urls: [gatewayB.ws])
            #expect(await eventually(timeout: .seconds(15)) { try await cluster.states(gatewayA)[id] == .online }, "\(cluster.logs())")

            // ?wait: the finished request comes back in the response.
            let (status, body) = try await cluster.callback(gatewayA, agent: id, kind: "status", wait: 20)
            #expect(status == 200, "\(String(decoding: body, as: UTF8.self))\n\(cluster.logs())")
            let record = try FleetJSON.decoder().decode(RequestRecord.self, from: body)
            #expect(record.state == .completed && record.agentId == id && record.attempts == 1)
            let snapshot = try FleetJSON.decode(MetricsSnapshot.self, from: try FleetJSON.encode(try #require(record.result)))
            #expect(snapshot.memory?.totalBytes == (try memTotalBytes()), "a real, fresh snapshot")

            // Without ?wait: 202 and an id; any gateway then answers for the request.
            let (accepted, acceptedBody) = try await cluster.callback(gatewayA, agent: id, kind: "status")
            #expect(accepted == 202)
            let requestId = try JSONDecoder().decode(CallbackAccepted.self, from: acceptedBody).requestId
            let fromB = try await cluster.request(gatewayB, id: requestId, wait: 20)
            #expect(fromB?.state == .completed)
            let fromA = try await cluster.request(gatewayA, id: requestId)
            #expect(fromA?.state == .completed)
        }
    }

    @Test("SIGKILL a worker with callbacks in flight: every request ends completed or failed with a reason")
    func workerKilled() async throws {
        try await withCluster("callback-worker-kill") { cluster in
            let bus = try await cluster.startRegistry(["--set", "callbacks.timeout=2", "--set", "callbacks.attempts=3"])
            let gateway = try await cluster.startGateway("gateway", bus: bus)
            let doomed = try await cluster.startWorker("worker-doomed", bus: bus)
            try await cluster.startWorker("worker-survivor", bus: bus)
            let (_, id) = try await cluster.startAgent("agent", urls: [gateway.ws])
            #expect(await eventually(timeout: .seconds(15)) { try await cluster.states(gateway)[id] == .online })

            #expect(await eventually(timeout: .seconds(10)) { try await readyWorkers(gateway) == 2 }, "both workers show in /readyz")
            var ids: [String] = []
            for _ in 0..<30 {
                let (status, body) = try await cluster.callback(gateway, agent: id, kind: "status")
                #expect(status == 202)
                ids.append(try JSONDecoder().decode(CallbackAccepted.self, from: body).requestId)
            }
            doomed.signal(SIGKILL)

            // Deadline: 3 attempts of 2 s, plus slack for the sweep.
            var records: [RequestRecord] = []
            for requestId in ids {
                if let record = try await cluster.request(gateway, id: requestId, wait: 15) { records.append(record) }
            }
            #expect(records.count == ids.count)
            for record in records {
                #expect(record.state.isFinal, "request \(record.id) still \(record.state.rawValue)")
                if record.state == .failed { #expect(record.error?.isEmpty == false) }
            }
            // The survivor and re-issued attempts carry them all through.
            #expect(records.filter { $0.state == .completed }.count == ids.count, "\(records.map { "\($0.state.rawValue) \($0.attempts) \($0.error ?? "")" })")
            // The dead worker drops out of /readyz once it has been silent for the peer timeout.
            #expect(await eventually(timeout: .seconds(10)) { try await readyWorkers(gateway) == 1 })
        }
    }

    /// Workers alive according to a gateway's /readyz.
    func readyWorkers(_ gateway: Cluster.Gateway) async throws -> Int? {
        struct Ready: Decodable { var bus: BusPeers? }
        let (_, body) = try await HTTP.get("\(gateway.http)/readyz")
        return try JSONDecoder().decode(Ready.self, from: body).bus?.workers.count
    }

    @Test("reply tokens: 401 missing or garbage, 403 another request's, 400 malformed, 404 unknown, 202 once, then 409")
    func replyTokens() async throws {
        try await withCluster("callback-tokens") { cluster in
            let master = try await cluster.startServe()
            let agent = cluster.testAgent()
            guard case .welcome = try await agent.connect(url: master.ws, token: cluster.agentToken) else {
                Issue.record("no welcome")
                return
            }
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.states(master)[agent.id] == .online })

            let (_, first) = try await cluster.callback(master, agent: agent.id, kind: "status")
            let (_, second) = try await cluster.callback(master, agent: agent.id, kind: "status")
            let r1 = try JSONDecoder().decode(CallbackAccepted.self, from: first).requestId
            let r2 = try JSONDecoder().decode(CallbackAccepted.self, from: second).requestId
            var callbacks: [String: MasterMessage.Callback] = [:]
            while callbacks.count < 2 {
                let callback = try await agent.nextCallback()
                callbacks[callback.requestId] = callback
            }
            let c1 = try #require(callbacks[r1]), c2 = try #require(callbacks[r2])
            #expect(c1.replyPath == "/v1/callbacks/\(r1)")
            #expect(c1.replyToken.hasPrefix("\(r1)."))

            let url1 = "\(master.http)/api\(c1.replyPath)"
            let good = try FleetJSON.encode(AgentReply(ok: true, result: try FleetJSON.decode(JSONValue.self, from: FleetJSON.encode(MetricsSnapshot(timestamp: Date(), seq: 7)))))
            #expect(try await HTTP.post(url1, token: nil, body: Data(good)).status == 401)
            #expect(try await HTTP.post(url1, token: "garbage", body: Data(good)).status == 401)
            #expect(try await HTTP.post(url1, token: "\(r1).0000", body: Data(good)).status == 401)
            #expect(try await HTTP.post(url1, token: c2.replyToken, body: Data(good)).status == 403)
            #expect(try await HTTP.post(url1, token: cluster.adminToken, body: Data(good)).status == 401)
            let (malformed, malformedBody) = try await HTTP.post(url1, token: c1.replyToken, body: Data("{not json".utf8))
            #expect(malformed == 400)
            #expect(try JSONDecoder().decode(APIErrorBody.self, from: malformedBody).error.code == "bad_request")
            #expect(try await HTTP.post(url1, token: c1.replyToken, body: Data(#"{"result":1}"#.utf8)).status == 400)
            #expect(try await HTTP.post("\(master.http)/api/v1/callbacks/no-such-request", token: c1.replyToken, body: Data(good)).status == 404)

            #expect(try await HTTP.post(url1, token: c1.replyToken, body: Data(good)).status == 202)
            let done = try await cluster.request(master, id: r1, wait: 10)
            #expect(done?.state == .completed)
            #expect(done?.result?["seq"]?.numberValue == 7)
            #expect(try await HTTP.post(url1, token: c1.replyToken, body: Data(good)).status == 409)

            // A well-formed reply whose status result is not a snapshot: the worker fails it, with the reason.
            let bad = try FleetJSON.encode(AgentReply(ok: true, result: .object(["cpu": .string("lots")])))
            #expect(try await HTTP.post("\(master.http)/api\(c2.replyPath)", token: c2.replyToken, body: Data(bad)).status == 202)
            let failed = try await cluster.request(master, id: r2, wait: 10)
            #expect(failed?.state == .failed)
            #expect(failed?.error?.contains("not a metrics snapshot") == true)
            await agent.close()
        }
    }

    @Test("admin side: unknown agent 404, malformed body or unknown kind 400, unknown request 404, bad wait 400")
    func adminErrors() async throws {
        try await withCluster("callback-admin") { cluster in
            let master = try await cluster.startServe()
            #expect(try await cluster.callback(master, agent: "nobody", kind: "status").status == 404)
            let url = "\(master.http)/api/v1/agents/nobody/callbacks"
            let agent = cluster.testAgent()
            _ = try await agent.connect(url: master.ws, token: cluster.agentToken)
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.states(master)[agent.id] == .online })
            let agentURL = "\(master.http)/api/v1/agents/\(agent.id)/callbacks"
            #expect(try await HTTP.post(agentURL, token: cluster.adminToken, body: Data("{".utf8)).status == 400)
            let (unknownKind, body) = try await HTTP.post(agentURL, token: cluster.adminToken, body: Data(#"{"kind":"reboot-everything"}"#.utf8))
            #expect(unknownKind == 400)
            #expect(String(decoding: body, as: UTF8.self).contains("status, logs, config, exec, restart"))
            #expect(try await HTTP.post(url, token: nil, body: Data(#"{"kind":"status"}"#.utf8)).status == 401)
            #expect(try await HTTP.get("\(master.http)/api/v1/requests/nope", token: cluster.adminToken).status == 404)
            #expect(try await HTTP.get("\(master.http)/api/v1/requests/nope?wait=banana", token: cluster.adminToken).status == 400)
            await agent.close()
        }
    }

    @Test("no reply: re-sent after each timeout with the same id, then failed with the reason; none stays pending")
    func retriesThenFails() async throws {
        try await withCluster("callback-retry") { cluster in
            let master = try await cluster.startServe(["--set", "callbacks.timeout=1", "--set", "callbacks.attempts=2"])
            let silent = cluster.testAgent()
            let welcome = try await silent.connect(url: master.ws, token: cluster.agentToken)
            guard case .welcome = welcome else { throw HarnessError("not welcomed: \(welcome)") }
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.states(master)[silent.id] == .online })
            let (_, body) = try await cluster.callback(master, agent: silent.id, kind: "status")
            let id = try JSONDecoder().decode(CallbackAccepted.self, from: body).requestId
            let firstAttempt = try await silent.nextCallback()
            let secondAttempt = try await silent.nextCallback()
            #expect(firstAttempt.requestId == id && secondAttempt.requestId == id, "re-issued, idempotent by request id")
            #expect(firstAttempt.replyToken == secondAttempt.replyToken)
            let failed = try await cluster.request(master, id: id, wait: 10)
            #expect(failed?.state == .failed)
            #expect(failed?.attempts == 2)
            #expect(failed?.error?.contains("no result after 2 attempt(s)") == true, "\(failed?.error ?? "-")")
            await silent.close()

            // A request for an agent that is not connected waits for it, then fails, saying why.
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.states(master)[silent.id] == .disconnected })
            let (_, waitingBody) = try await cluster.callback(master, agent: silent.id, kind: "status")
            let waitingId = try JSONDecoder().decode(CallbackAccepted.self, from: waitingBody).requestId
            #expect(try await cluster.request(master, id: waitingId)?.state == .pending)
            let gaveUp = try await cluster.request(master, id: waitingId, wait: 10)
            #expect(gaveUp?.state == .failed)
            #expect(gaveUp?.error?.contains("did not connect") == true, "\(gaveUp?.error ?? "-")")
        }
    }

    @Test("bad frames on an agent session get an error frame and the session stays up")
    func badFrames() async throws {
        try await withCluster("callback-frames") { cluster in
            let master = try await cluster.startServe()
            let agent = cluster.testAgent()
            _ = try await agent.connect(url: master.ws, token: cluster.agentToken)
            try await agent.sendRaw(#"{"type":"teleport","to":"mars"}"#)
            guard case .error(let unknown) = try await agent.next(timeout: .seconds(5)) else {
                Issue.record("no error frame for an unknown type")
                return
            }
            #expect(unknown.code == "unknown_type" && unknown.message.contains("teleport"))
            try await agent.sendRaw("this is not json")
            guard case .error(let malformed) = try await agent.next(timeout: .seconds(5)) else {
                Issue.record("no error frame for malformed JSON")
                return
            }
            #expect(malformed.code == "malformed")
            // Still a working session: a heartbeat lands.
            try await agent.send(.heartbeat(.init(metrics: MetricsSnapshot(timestamp: Date(), seq: 42))))
            #expect(await eventually(timeout: .seconds(5)) {
                try await cluster.agents(master).first { $0.id == agent.id }?.metrics?.seq == 42
            })
            await agent.close()
        }
    }
}
