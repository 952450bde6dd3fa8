import FleetProtocol
import Foundation
import Synchronization
import Testing

/// The kill run of issue 11: real agents, status callbacks at a steady rate through both
/// gateways, and a worker, a gateway (the one every agent's `master.api_url` names) and the
/// registry each SIGKILLed and restarted 3 s later. Every request answered 202 must end
/// completed or failed with a reason; none may be lost, and none may fail for want of its
/// reply reaching a live gateway.
///
/// `FLEET_KILL_RUN_SECONDS` sets the load's length (CI: 40; the issue's full run: 110).
@Suite("Kill run", .serialized)
struct KillRunTests {
    static let seconds = Double(ProcessInfo.processInfo.environment["FLEET_KILL_RUN_SECONDS"] ?? "") ?? 40
    static let agents = 20
    static let rate = 20.0

    struct Ledger {
        var acknowledged: [(id: String, gateway: Int)] = []
        var refused: [Int: Int] = [:]
        var unanswered = 0
    }

    /// What the load task and its POSTs share with the test.
    final class Load: Sendable {
        let ledger = Mutex(Ledger())
        let running = Atomic<Bool>(true)
        let targets: [String]
        init(targets: [String]) { self.targets = targets }
    }

    @Test("20 agents, 20 status callbacks/s over two gateways; SIGKILL a worker, a gateway and the registry, each back after 3 s: lost = 0, none fails for its reply gateway")
    func killRun() async throws {
        try await withCluster("kill-run") { cluster in
            // Attempts are re-sent after 5 s (3 attempts), so a request caught by a kill ends soon.
            let bus = try await cluster.startRegistry(["--set", "callbacks.timeout=5"])
            var gateways = [
                try await cluster.startGateway("gateway-a", bus: bus),
                try await cluster.startGateway("gateway-b", bus: bus),
            ]
            try await cluster.startWorker("worker-1", bus: bus)
            try await cluster.startWorker("worker-2", bus: bus)
            var ids: [String] = []
            for index in 0..<Self.agents {
                // Half start on each gateway; every one's api_url is gateway A.
                let urls = index % 2 == 0 ? [gateways[0].ws, gateways[1].ws] : [gateways[1].ws, gateways[0].ws]
                let (_, id) = try await cluster.startAgent("agent-\(index)", urls: urls, apiURL: Cluster.apiURL(forWebSocket: gateways[0].ws))
                ids.append(id)
            }
            #expect(await eventually(timeout: .seconds(30)) {
                try await cluster.agents(gateways[1]).filter { $0.state == .online }.count == Self.agents
            }, "\(cluster.logs())")

            let agentIds = ids
            let token = cluster.adminToken
            let state = Load(targets: gateways.map(\.http))
            let load = Task {
                var sent = 0
                let start = ContinuousClock.now
                while state.running.load(ordering: .relaxed) {
                    let gateway = sent % 2
                    let agent = agentIds[sent % agentIds.count]
                    let base = state.targets[gateway]  // a restarted gateway keeps its port
                    sent += 1
                    Task { [agent, base, gateway] in
                        do {
                            let (status, body) = try await HTTP.post(
                                "\(base)/api/v1/agents/\(agent)/callbacks", token: token,
                                body: Data(#"{"kind":"status","args":{}}"#.utf8), timeout: 15
                            )
                            if status == 202, let accepted = try? FleetJSON.decoder().decode(CallbackAccepted.self, from: body) {
                                state.ledger.withLock { $0.acknowledged.append((accepted.requestId, gateway)) }
                            } else {
                                state.ledger.withLock { $0.refused[status, default: 0] += 1 }
                            }
                        } catch {
                            state.ledger.withLock { $0.unanswered += 1 }  // a gateway down: nothing acknowledged
                        }
                    }
                    try? await Task.sleep(until: start + .milliseconds(Int64(Double(sent) * 1000 / Self.rate)), clock: .continuous)
                }
            }

            let began = ContinuousClock.now
            func at(_ fraction: Double) async throws {
                try await Task.sleep(until: began + .milliseconds(Int64(Self.seconds * fraction * 1000)), clock: .continuous)
            }
            try await at(0.2)
            let worker = try #require(cluster.process(named: "worker-1"))
            worker.signal(SIGKILL)
            try await Task.sleep(for: .seconds(3))
            try await cluster.startWorker("worker-1b", bus: bus)

            try await at(0.45)
            gateways[0].process.signal(SIGKILL)
            _ = await gateways[0].process.waitForExit()
            // Its port held at once until the new gateway binds it (an outgoing connection of
            // another test could take a free port in the 3 s).
            let (reservation, _) = try AlertTests().reservePort(gateways[0].port)
            try await Task.sleep(for: .seconds(3))
            do {
                gateways[0] = try await cluster.startGateway("gateway-a2", bus: bus, port: gateways[0].port)
                close(reservation)
            } catch {
                close(reservation)
                throw error
            }

            try await at(0.7)
            let registry = try #require(cluster.process(named: "registry"))
            registry.signal(SIGKILL)
            try await Task.sleep(for: .seconds(3))
            _ = try await cluster.startRegistry(["--set", "callbacks.timeout=5"], name: "registry-2", bus: bus)

            try await at(1.0)
            state.running.store(false, ordering: .relaxed)
            await load.value
            try await Task.sleep(for: .seconds(16))  // the last POSTs' answers (15 s timeout)

            // The audit: every acknowledged request, as the gateways know it now.
            let acknowledged = state.ledger.withLock { $0.acknowledged }
            var completed = 0
            var failures: [String: Int] = [:]
            var lost: [String] = []
            var unfinished: [String] = []
            let deadline = ContinuousClock.now + .seconds(90)
            for (requestId, _) in acknowledged {
                var final: RequestRecord?
                var seen = false
                while final == nil, ContinuousClock.now < deadline {
                    for gateway in gateways {
                        guard let (status, body) = try? await HTTP.get("\(gateway.http)/api/v1/requests/\(requestId)?wait=2", token: cluster.adminToken),
                            status == 200, let record = try? FleetJSON.decoder().decode(RequestRecord.self, from: body)
                        else { continue }
                        seen = true
                        if record.state.isFinal { final = record }
                        break
                    }
                    if final == nil { try await Task.sleep(for: .milliseconds(200)) }
                }
                switch final?.state {
                case .completed: completed += 1
                case .failed: failures[final?.error ?? "", default: 0] += 1
                default: if seen { unfinished.append(requestId) } else { lost.append(requestId) }
                }
            }
            let summary = state.ledger.withLock { ledger in
                "kill run (\(Int(Self.seconds)) s at \(Int(Self.rate))/s): acknowledged \(acknowledged.count), completed \(completed), "
                    + "failed \(failures.values.reduce(0, +)), unfinished \(unfinished.count), lost \(lost.count); "
                    + "not acknowledged: \(ledger.refused) by status, \(ledger.unanswered) unanswered; failures: \(failures)"
            }
            print(summary)
            #expect(acknowledged.count > Int(Self.seconds * Self.rate * 0.6), "\(summary)")
            #expect(lost.isEmpty, "acknowledged, then never heard of again: \(lost.prefix(10))\n\(summary)")
            #expect(unfinished.isEmpty, "\(unfinished.prefix(10))\n\(summary)")
            #expect(failures.keys.allSatisfy { !$0.isEmpty }, "every failure has a reason: \(summary)")
            // A reply that could not reach a live gateway shows as an attempt with no result.
            #expect(failures.keys.filter { $0.contains("no result") }.isEmpty, "failed for want of a reply: \(summary)\n\(cluster.logs())")
        }
    }
}
