import FleetProtocol
import Foundation
import Testing

/// Issue 10, CURVE on the bus, with real processes on real tcp sockets: a split topology with
/// `master keys generate` keys works end to end; an outside ZeroMQ peer (pyzmq, from the venv
/// `.ci/install-deps` makes) with a keypair nobody listed, or with no keys at all, gets nothing
/// in and nothing out; a role's key cannot send another role's events; and an open bus on a
/// network refuses to start.
///
/// Every "gets nothing" is measured against a positive control: the same script, the same
/// plan and the same wait, with a key the registry does admit, does get in (or out).
@Suite("Bus security (CURVE)", .serialized)
struct BusSecurityTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let python = root.appendingPathComponent(".build-venv/bin/python").path
    static let script = root.appendingPathComponent("Tests/bus/outside_peer.py").path

    /// What `outside_peer.py` got in its listening window.
    struct PeerReport: Decodable {
        var updates: Int
        var topics: [String]
        var snapshot_chunks: Int
        var query_answers: Int
        var jobs: Int
    }

    enum PeerKeys {
        case none, own
        case given(public: String, secret: String)
    }

    /// Runs the outside peer against `bus` and returns its report.
    func outsidePeer(
        _ cluster: Cluster, _ label: String, bus: Cluster.Ready.Bus, keys: PeerKeys, push: [(String, String)],
        contentQuery: String?, seconds: Double = 3
    ) async throws -> PeerReport {
        var plan: [String: Any] = [
            "server_key": try cluster.key("registry.pub"), "events": bus.events, "updates": bus.updates,
            "snapshot": bus.snapshot, "jobs_out": bus.jobs_out, "seconds": seconds,
            "push": push.map { [$0.0, $0.1] },
        ]
        switch keys {
        case .none: plan["keys"] = "none"
        case .own: plan["keys"] = "own"
        case .given(let publicKey, let secretKey):
            plan["keys"] = "given"
            plan["public"] = publicKey
            plan["secret"] = secretKey
        }
        if let contentQuery { plan["content_query"] = ["requestId": contentQuery, "index": 0] }
        let planFile = cluster.directory.appendingPathComponent("plan-\(label).json")
        try JSONSerialization.data(withJSONObject: plan).write(to: planFile)
        let process = try cluster.start("peer-\(label)", Self.python, [Self.script, planFile.path])
        // An upper bound: Python, pyzmq and the CURVE handshakes start slowly on a loaded run.
        guard let status = await process.waitForExit(timeout: .seconds(seconds + 60)) else {
            await process.stop()
            throw HarnessError("outside peer \(label) did not finish:\n\(process.stderr)")
        }
        let output = (try? String(contentsOfFile: process.stdoutPath, encoding: .utf8)) ?? ""
        guard status == 0, let line = output.split(separator: "\n").last else {
            throw HarnessError("outside peer \(label) exited \(status):\n\(output)\n\(process.stderr)")
        }
        return try JSONDecoder().decode(PeerReport.self, from: Data(line.utf8))
    }

    /// The sum of a Prometheus family's samples whose labels include `labels`.
    func metric(_ text: String, _ name: String, _ labels: [String: String] = [:]) -> Double {
        var total = 0.0
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            let parts = line.split(separator: " ")
            guard let value = parts.last.flatMap({ Double($0) }) else { continue }
            let labelText = line.drop { $0 != "{" }.dropFirst().prefix { $0 != "}" }
            var found: [String: String] = [:]
            for pair in labelText.split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                if kv.count == 2 { found[String(kv[0])] = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            }
            if labels.allSatisfy({ found[$0.key] == $0.value }) { total += value }
        }
        return total
    }

    func scrape(_ url: String) async throws -> String {
        let (status, body) = try await HTTP.get(url)
        guard status == 200 else { throw HarnessError("\(url): HTTP \(status)") }
        return String(decoding: body, as: UTF8.self)
    }

    static func venvMissing() -> String? {
        FileManager.default.isExecutableFile(atPath: python) ? nil : "\(python) is missing: run `bash .ci/install-deps` (it installs pyzmq)"
    }

    static func json<T: Encodable>(_ value: T) throws -> String { String(decoding: try FleetJSON.encode(value), as: UTF8.self) }

    static func created(_ requestId: String, agent: String) throws -> (String, String) {
        ("request.created", try json(BusEvent.RequestCreated(requestId: requestId, agentId: agent, kind: .status, args: .object([:]))))
    }

    static func result(_ requestId: String, agent: String, forgedBy who: String) throws -> (String, String) {
        ("request.result", try json(BusEvent.RequestResult(
            requestId: requestId, agentId: agent, ok: true, result: .object(["forged": .string(who)]), error: nil
        )))
    }

    /// A session announcement as a gateway makes it for an enrolling agent: the registry trusts
    /// the gateway's word that it checked the enrollment token, which is why only a gateway's key
    /// may send one.
    static func opened(_ agentId: String, gateway: String) throws -> (String, String) {
        let info = AgentInfo(id: agentId, hostname: "intruder", os: OSInfo(name: "x", version: "1", kernel: "1", arch: "x"), agentVersion: "0")
        let auth = SessionAuth.enrollment(.init(keyId: "bootstrap", tenant: Tenant.default, secretSHA256: String(repeating: "ab", count: 32)))
        return ("session.opened", try json(BusEvent.SessionOpened(gatewayId: gateway, sessionId: UUID().uuidString, agent: info, metrics: nil, auth: auth)))
    }

    @Test("CURVE split topology: two gateways and a worker with generated keys; agent online, status and logs callbacks complete")
    func endToEnd() async throws {
        try await withCluster("curve-e2e", curve: true) { cluster in
            let (_, gateways) = try await cluster.startSplit(gateways: 2, workers: 1)
            let (_, id) = try await cluster.startAgent("agent", urls: [gateways[1].ws])
            try "one\ntwo\n".write(to: cluster.directory.appendingPathComponent("agent/logs/app.log"), atomically: true, encoding: .utf8)
            #expect(await eventually(timeout: .seconds(15)) {
                let states = (try await cluster.states(gateways[0]), try await cluster.states(gateways[1]))
                return states.0[id] == .online && states.1[id] == .online
            }, "the agent shows online on both gateways (events, updates and snapshot over CURVE)\n\(cluster.logs())")
            for process in cluster.processes where process.name.hasPrefix("registry") || process.name.hasPrefix("gateway") || process.name.hasPrefix("worker") {
                #expect(process.stderr.contains("bus: CURVE on"), "\(process.name) runs with CURVE")
            }

            // jobs_in -> streamer -> jobs_out -> worker -> events: a status callback completes.
            let status = try await cluster.finished(gateways[0], agent: id, kind: "status")
            #expect(status.state == .completed && status.agentId == id, "\(status.error ?? "")\n\(cluster.logs())")
            // And a file: chunks through jobs_out and blobs, content back through the snapshot ROUTER.
            let logs = try await cluster.finished(gateways[0], agent: id, kind: "logs", args: #"{"file":"app.log"}"#)
            #expect(logs.state == .completed, "\(logs.error ?? "")")
            let (code, content) = try await HTTP.get("\(gateways[1].http)/api/v1/requests/\(logs.id)/content", token: cluster.adminToken)
            #expect(code == 200 && String(decoding: content, as: UTF8.self) == "one\ntwo\n")
        }
    }

    @Test("an outside pyzmq peer, with its own keypair or with none, gets no event applied, no update, no snapshot, no content and no job; the real keys do")
    func outsidePeerGetsNothing() async throws {
        if let missing = Self.venvMissing() {
            Issue.record("the outside-peer test cannot run: \(missing)")
            return
        }
        try await withCluster("curve-outside", curve: true) { cluster in
            // No worker yet: the reply to a callback waits on jobs_out, so there is a real pending
            // request (dispatched, not completed) and a real job for a fake worker to try to take.
            let bus = try await cluster.startRegistry(["--set", "metrics.listen=127.0.0.1:0", "--set", "callbacks.timeout=120"])
            let registryProcess = try #require(cluster.process(named: "registry"))
            let registryMetrics = try #require(try await cluster.ready(registryProcess, file: "registry.json").metrics)
            let gateway = try await cluster.startGateway("gateway-a", bus: bus, key: "gateway-1")
            let (agent, id) = try await cluster.startAgent("agent", urls: [gateway.ws])
            #expect(await eventually(timeout: .seconds(15)) { try await cluster.states(gateway)[id] == .online }, "\(cluster.logs())")

            let (accepted, acceptedBody) = try await cluster.callback(gateway, agent: id, kind: "status")
            #expect(accepted == 202)
            let pending = try JSONDecoder().decode(CallbackAccepted.self, from: acceptedBody).requestId
            // The agent's reply reached the registry's streamer, which holds it for a worker.
            #expect(await eventually(timeout: .seconds(15)) {
                metric(try await scrape(registryMetrics), "fleet_bus_messages", ["socket": "jobs_in", "direction": "received"]) >= 1
            }, "\(cluster.logs())")
            #expect(try await cluster.request(gateway, id: pending)?.state == .dispatched)

            // The attackers: the same plan with an unlisted keypair, and with no keys at all.
            var forgedIds: [String] = []
            for (label, keys) in [("own-keys", PeerKeys.own), ("no-keys", PeerKeys.none)] {
                let forged = "forged-\(label)-\(UUID().uuidString.prefix(8))"
                forgedIds.append(forged)
                let report = try await outsidePeer(cluster, label, bus: bus, keys: keys, push: [
                    try Self.created(forged, agent: id), try Self.result(pending, agent: id, forgedBy: label),
                    try Self.opened("intruder-\(label)", gateway: gateway.id),
                ], contentQuery: pending)
                #expect(report.updates == 0, "\(label) read the PUB: \(report.topics)")
                #expect(report.snapshot_chunks == 0, "\(label) got a snapshot")
                #expect(report.query_answers == 0, "\(label) got a content query answered")
                #expect(report.jobs == 0, "\(label) took a job from jobs_out")
            }
            // The refusals were counted on every socket each peer tried: the ZAP handler's for the
            // unlisted key, the handshake watch's for the peer that spoke no CURVE at all (not_curve
            // when the registry notices the mismatch first, handshake_failed when the peer hangs up first).
            let refusedText = try await scrape(registryMetrics)
            for socket in ["events", "updates", "snapshot", "jobs_out"] {
                #expect(metric(refusedText, "fleet_bus_auth_refused_total", ["socket": socket, "reason": "unknown_key"]) >= 1, "no ZAP refusal counted on \(socket)")
                let plaintext = metric(refusedText, "fleet_bus_auth_refused_total", ["socket": socket, "reason": "not_curve"])
                    + metric(refusedText, "fleet_bus_auth_refused_total", ["socket": socket, "reason": "handshake_failed"])
                #expect(plaintext >= 1, "no plaintext refusal counted on \(socket)")
            }

            // Control 1: the real gateway's key, same script, same wait. It reads the PUB and the
            // ROUTER, its request.created and session.opened are applied; jobs_out still refuses it.
            let controlRequest = "control-\(UUID().uuidString.prefix(8))"
            let gatewayReport = try await outsidePeer(cluster, "gateway-key", bus: bus, keys: .given(
                public: try cluster.key("gateway-1.pub"), secret: try cluster.key("gateway-1.key")
            ), push: [try Self.created(controlRequest, agent: id), try Self.opened("control-agent", gateway: gateway.id)], contentQuery: pending)
            #expect(gatewayReport.updates > 0 && gatewayReport.topics.contains("hugz"), "the control peer reads the PUB: \(gatewayReport.topics)")
            #expect(gatewayReport.snapshot_chunks >= 1 && gatewayReport.query_answers == 1)
            #expect(gatewayReport.jobs == 0, "a gateway key may not take jobs")
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.request(gateway, id: controlRequest) != nil },
                    "the control's request.created was applied\n\(cluster.logs())")
            #expect(await eventually(timeout: .seconds(10)) { agent.stderr.contains(controlRequest) }, "the agent got the control's callback")
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.states(gateway)["control-agent"] != nil })

            // What the attackers pushed, with the same format and more time, was never applied.
            for forged in forgedIds {
                #expect(try await cluster.request(gateway, id: forged) == nil, "\(forged) was created")
                #expect(!agent.stderr.contains(forged), "the agent got a callback for \(forged)")
            }
            let states = try await cluster.states(gateway)
            #expect(states["intruder-own-keys"] == nil && states["intruder-no-keys"] == nil)
            let stillPending = try #require(try await cluster.request(gateway, id: pending))
            #expect(stillPending.state == .dispatched && stillPending.result == nil, "the pending request was completed by a forged result")

            // Control 2: the real worker's key takes the waiting job, and its result is applied;
            // its session.opened and request.created are not (a worker may send neither), and it
            // cannot read the PUB or the ROUTER.
            let workerRequest = "worker-made-\(UUID().uuidString.prefix(8))"
            let workerReport = try await outsidePeer(cluster, "worker-key", bus: bus, keys: .given(
                public: try cluster.key("worker-1.pub"), secret: try cluster.key("worker-1.key")
            ), push: [
                try Self.result(pending, agent: id, forgedBy: "worker-key"), try Self.opened("intruder-worker", gateway: gateway.id),
                try Self.created(workerRequest, agent: id),
            ], contentQuery: pending)
            #expect(workerReport.jobs >= 1, "the worker key takes the job that waited on jobs_out")
            #expect(workerReport.updates == 0 && workerReport.snapshot_chunks == 0 && workerReport.query_answers == 0, "a worker key reads neither the PUB nor the ROUTER")
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.request(gateway, id: pending)?.state == .completed },
                    "the worker key's result (the attackers' format) completes the request")
            #expect(try await cluster.request(gateway, id: pending)?.result == .object(["forged": .string("worker-key")]))
            let counted = await eventually(timeout: .seconds(5)) {
                let text = try await scrape(registryMetrics)
                return metric(text, "fleet_registry_events_refused_total", ["kind": "session.opened", "role": "worker"]) >= 1
                    && metric(text, "fleet_registry_events_refused_total", ["kind": "request.created", "role": "worker"]) >= 1
            }
            #expect(counted, "the worker's forbidden kinds are counted")
            #expect(try await cluster.request(gateway, id: workerRequest) == nil, "a worker created a request")
            #expect(try await cluster.states(gateway)["intruder-worker"] == nil, "a worker opened a session")
        }
    }

    @Test("without keys, a registry, gateway or worker on a non-loopback tcp bus exits 2 and says why; with bus.insecure it starts")
    func openNetworkBusRefused() async throws {
        try await withCluster("curve-open") { cluster in
            let any = "tcp://0.0.0.0:*"
            let wide = ["events", "updates", "snapshot", "jobs_in", "jobs_out", "blobs"].flatMap { ["--set", "bus.\($0)=\(any)"] }
            let refused = try cluster.start("registry-open", "master", ["registry", "--set", "data_dir=open"] + wide)
            #expect(await refused.waitForExit() == 2)
            #expect(refused.stderr.contains("bus.events is tcp://0.0.0.0:*, not a loopback address") && refused.stderr.contains("bus.insecure"), "\(refused.stderr)")

            // bus.insecure: the registry binds every interface and runs.
            let bus = try await cluster.startRegistry(wide + ["--set", "bus.insecure=true"], name: "registry-insecure")
            #expect(cluster.process(named: "registry-insecure")?.stderr.contains("OPEN on a network") == true)
            // Gateways and workers that connect to it by a non-loopback name (0.0.0.0 reaches this host).
            func onNetwork(_ endpoint: String) -> String { endpoint.replacingOccurrences(of: "127.0.0.1", with: "0.0.0.0") }
            let networkBus = Cluster.Ready.Bus(
                events: onNetwork(bus.events), updates: onNetwork(bus.updates), snapshot: onNetwork(bus.snapshot),
                jobs_in: onNetwork(bus.jobs_in), jobs_out: onNetwork(bus.jobs_out), blobs: onNetwork(bus.blobs)
            )
            #expect(networkBus.events.hasPrefix("tcp://0.0.0.0:"), "\(networkBus.events)")
            for role in ["gateway", "worker"] {
                let process = try cluster.start("\(role)-open", "master", [role, "--set", "data_dir=\(role)-open"] + Cluster.busArguments(networkBus) + cluster.tokenArguments)
                #expect(await process.waitForExit() == 2, "\(role) must refuse")
                #expect(process.stderr.contains("not a loopback address"), "\(process.stderr)")
            }
            let gateway = try await cluster.startGatewayInsecure(networkBus)
            let worker = try cluster.start("worker-insecure", "master", [
                "worker", "--ready-file", "worker-insecure.json", "--set", "data_dir=worker-insecure", "--set", "bus.insecure=true",
            ] + Cluster.busArguments(networkBus))
            _ = try await cluster.ready(worker, file: "worker-insecure.json")
            // Really connected: the gateway syncs its replica and sees the worker beat.
            #expect(await eventually(timeout: .seconds(10)) {
                let (status, body) = try await HTTP.get("\(gateway.http)/readyz")
                return status == 200 && String(decoding: body, as: UTF8.self).contains("wk-")
            }, "\(cluster.logs())")
        }
    }
}

extension Cluster {
    /// A gateway on `bus` with `bus.insecure: true`.
    func startGatewayInsecure(_ bus: Ready.Bus) async throws -> Gateway {
        let process = try start("gateway-insecure", "master", [
            "gateway", "--ready-file", "gateway-insecure.json", "--set", "data_dir=gateway-insecure", "--set", "server.host=127.0.0.1",
            "--set", "server.port=0", "--set", "bus.insecure=true",
        ] + Self.busArguments(bus) + tokenArguments)
        return try Self.gateway(process, try await ready(process, file: "gateway-insecure.json"))
    }
}
