import FleetProtocol
import Foundation
import Spawn
import Synchronization
import Testing

/// The split master as containers (issue 12): docker/compose.yaml run with podman-compose —
/// a registry, two gateways behind HAProxy (TLS on both legs), workers scaled by count, two
/// demo agents in containers, CURVE on the bus — driven from this host through HAProxy with
/// the real CLI and the bench's simulated agents, then broken one container at a time under a
/// steady load of status callbacks, with an audit after each failure: every request created
/// is completed, or failed with a reason, and none is lost.
///
/// Run by `docker/test/run` (it builds the images and sets FLEET_CONTAINER_TESTS=1); skipped
/// by a plain `swift test`.
@Suite("Containers", .serialized, .enabled(if: ProcessInfo.processInfo.environment["FLEET_CONTAINER_TESTS"] == "1"))
struct ContainerTests {
    static let swarmAgents = 20
    static let rate = 10.0
    /// The swarm's and the demo agents' reconnect cap (docker/test/compose.test.yaml).
    static let backoffCap = 5.0
    /// The load's phases, in order (each request is audited under the phase it was made in).
    static let phases = ["steady", "worker killed", "gateway stopped", "registry restarted", "workers 3 -> 1 -> 4", "registry recreated", "after"]

    /// Requests acknowledged (202) under the load, by the phase they were made in.
    final class Load: Sendable {
        struct Ledger {
            var acknowledged: [(id: String, phase: String)] = []
            var notAcknowledged: [String: Int] = [:]
        }
        let ledger = Mutex(Ledger())
        let phase = Mutex("steady")
    }

    struct Audit: CustomStringConvertible {
        var created = 0, completed = 0, resent = 0, lost: [String] = [], unfinished: [String] = []
        var failed: [String: Int] = [:]
        var description: String {
            "created \(created) / completed \(completed) (\(resent) after a re-send) / failed with reason \(failed.values.reduce(0, +)) \(failed) / lost \(lost.count) / unfinished \(unfinished.count)"
        }
    }

    @Test("compose up with 3 workers; agents through HAProxy on both gateways; 200 callbacks; worker killed, gateway stopped, registry restarted and recreated with a new address, workers 3 -> 1 -> 4 under load: nothing lost")
    func composeUnderFailures() async throws {
        try await withCompose("fleetct", workers: 3) { deployment in
            // Up: both gateways ready (each synced with the registry), HAProxy serving.
            #expect(await eventually(timeout: .seconds(90)) {
                for index in 0..<2 {
                    let (status, _) = try await deployment.call(.GET, "\(deployment.gatewayBase(index))/readyz")
                    guard status == 200 else { return false }
                }
                return try await deployment.call(.GET, "\(deployment.base)/readyz").status == 200
            })
            // The images' HEALTHCHECK (`master probe`), run by podman on demand (there is no
            // systemd here to run it on a timer).
            for container in [deployment.container("registry"), deployment.container("gateway-1"), deployment.container("worker", 2)] {
                try await deployment.podman(["healthcheck", "run", container])
            }

            // An enrollment token for the simulated agents, made with the CLI through HAProxy.
            let (made, output) = try await deployment.cli(["tokens", "create", "--role", "enrollment", "--name", "container-test", "--json"])
            #expect(made == .exited(0), "\(output)")
            let key = try FleetJSON.decoder().decode(APIKeySummary.self, from: Data(output.drop { $0 != "{" }.utf8))
            let enrollment = try #require(key.secret)

            let swarm = try ChildProcess(
                executable: "\(deployment.bin)/bench",
                arguments: [
                    "swarm", "--connect-now", "--agents", String(Self.swarmAgents), "--prefix", "ct",
                    "--gateways", "wss://localhost:\(deployment.port)/ws", "--ca-file", deployment.caFile,
                    "--token", enrollment, "--interval", "2", "--backoff-cap", String(Self.backoffCap),
                ],
                stdout: .null, stderr: .file(deployment.directory.appendingPathComponent("swarm.err").path)
            )
            do {
                try await run(deployment)
                await swarm.stop(grace: .seconds(5))
            } catch {
                await swarm.stop(grace: .seconds(5))
                throw error
            }
        }
    }

    private func run(_ deployment: ComposeDeployment) async throws {
        let total = Self.swarmAgents + 2
        func online() async throws -> [AgentRecord] {
            try await deployment.agents().filter { $0.state == .online }
        }
        #expect(await eventually(timeout: .seconds(60)) { try await online().count == total }, "every agent online through HAProxy")
        let agents = try await deployment.agents()
        let swarmIds = agents.filter { $0.id.hasPrefix("ct-") }.map(\.id).sorted()
        let demoIds = agents.filter { !$0.id.hasPrefix("ct-") }.map(\.id)
        #expect(swarmIds.count == Self.swarmAgents && demoIds.count == 2)
        let byGateway = Dictionary(grouping: agents, by: { $0.gatewayId ?? "none" }).mapValues(\.count)
        print("containers: \(total) agents online through HAProxy, by gateway: \(byGateway)")
        #expect(byGateway["gateway-1", default: 0] > 0 && byGateway["gateway-2", default: 0] > 0, "HAProxy spread agents over both gateways: \(byGateway)")

        // The CLI through HAProxy: a real agent's status, now.
        let (status, statusOutput) = try await deployment.cli(["status", demoIds[0]])
        #expect(status == .exited(0), "\(statusOutput)")

        // 200 status callbacks through HAProxy, 20 at a time, each waited for: all completed.
        let targets = swarmIds + demoIds
        var states: [RequestState: Int] = [:]
        for batch in stride(from: 0, to: 200, by: 20) {
            try await withThrowingTaskGroup(of: RequestState?.self) { group in
                for index in batch..<(batch + 20) {
                    let agent = targets[index % targets.count]
                    group.addTask {
                        let (code, body) = try await deployment.call(
                            .POST, "\(deployment.base)/api/v1/agents/\(agent)/callbacks?wait=30",
                            body: #"{"kind":"status","args":{}}"#, timeout: 50
                        )
                        guard code == 200 else { return nil }
                        return try FleetJSON.decoder().decode(RequestRecord.self, from: body).state
                    }
                }
                for try await state in group { states[state ?? .pending, default: 0] += 1 }
            }
        }
        print("containers: 200 status callbacks through HAProxy: \(states)")
        #expect(states[.completed] == 200, "\(states)")

        // The steady load for the failures: status callbacks at `rate` through HAProxy.
        let load = Load()
        let steady = SteadyLoad(rate: Self.rate) { sent in
            let agent = swarmIds[sent % swarmIds.count]
            let phase = load.phase.withLock { $0 }
            do {
                switch try await deployment.statusCallback(agent) {
                case .success(let id): load.ledger.withLock { $0.acknowledged.append((id, phase)) }
                case .failure(let status): load.ledger.withLock { $0.notAcknowledged["\(phase): HTTP \(status.code)", default: 0] += 1 }
                }
            } catch {
                load.ledger.withLock { $0.notAcknowledged["\(phase): no answer", default: 0] += 1 }
            }
        }
        func phase(_ name: String) { load.phase.withLock { $0 = name } }
        do {
            try await failures(deployment, load: load, phase: phase, online: online, total: total)
            await steady.stop()
        } catch {
            await steady.stop()
            throw error
        }
        try await Task.sleep(for: .seconds(21))  // the last POSTs' answers (20 s timeout)

        // The audit, per phase and in all.
        let acknowledged = load.ledger.withLock { $0.acknowledged }
        var audits: [String: Audit] = [:]
        let deadline = ContinuousClock.now + .seconds(120)
        for (id, phase) in acknowledged {
            var audit = audits[phase] ?? Audit()
            audit.created += 1
            var final: RequestRecord?
            var seen = false
            while final == nil, ContinuousClock.now < deadline {
                if let record = try await deployment.request(id, wait: 2) {
                    seen = true
                    if record.state.isFinal { final = record }
                }
                if final == nil { try await Task.sleep(for: .milliseconds(200)) }
            }
            if let final, final.attempts > 1 { audit.resent += 1 }
            switch final?.state {
            case .completed: audit.completed += 1
            case .failed: audit.failed[final?.error ?? "", default: 0] += 1
            default: if seen { audit.unfinished.append(id) } else { audit.lost.append(id) }
            }
            audits[phase] = audit
        }
        var all = Audit()
        for name in Self.phases {
            let audit = audits[name] ?? Audit()
            print("containers audit [\(name)]: \(audit)")
            all.created += audit.created
            all.completed += audit.completed
            all.resent += audit.resent
            all.lost += audit.lost
            all.unfinished += audit.unfinished
            all.failed.merge(audit.failed, uniquingKeysWith: +)
        }
        let refused = load.ledger.withLock { $0.notAcknowledged }
        print("containers audit [all]: \(all); not acknowledged (nothing promised): \(refused)")
        #expect(all.created > 100, "\(all)")
        #expect(all.lost.isEmpty, "acknowledged, then never heard of again: \(all.lost.prefix(10))")
        #expect(all.unfinished.isEmpty, "\(all.unfinished.prefix(10))")
        #expect(all.failed.keys.allSatisfy { !$0.isEmpty }, "every failure has a reason: \(all)")
        // A killed worker's jobs are sent again (after callbacks.timeout): all of them complete.
        let killed = audits["worker killed"] ?? Audit()
        #expect(killed.created > 0 && killed.completed == killed.created, "\(killed)")
        #expect(killed.resent > 0, "the killed worker held jobs, and they were sent again: \(killed)")
        #expect(await eventually(timeout: .seconds(30)) { try await online().count == total }, "every agent online again at the end")
    }

    /// Build 5's failures, one after another under the load.
    private func failures(
        _ deployment: ComposeDeployment, load: Load, phase: (String) -> Void, online: () async throws -> [AgentRecord], total: Int
    ) async throws {
        try await Task.sleep(for: .seconds(5))

        // A worker killed with callbacks in flight: stopped first (SIGSTOP), so that the
        // registry's PUSH keeps handing it its share for 2 s, then SIGKILLed holding them.
        phase("worker killed")
        try await deployment.podman(["kill", "--signal", "STOP", deployment.container("worker", 1)])
        try await Task.sleep(for: .seconds(2))
        try await deployment.podman(["kill", deployment.container("worker", 1)])
        try await Task.sleep(for: .seconds(10))

        // A gateway stopped: its agents come back through HAProxy on the other one.
        phase("gateway stopped")
        let onFirst = try await deployment.agents().filter { $0.gatewayId == "gateway-1" }.map(\.id)
        let stopping = ContinuousClock.now
        try await deployment.podman(["stop", "-t", "5", deployment.container("gateway-1")])
        let gone = ContinuousClock.now
        let back = await eventually(timeout: .seconds(60)) {
            let now = try await deployment.agents()
            return now.filter { $0.state == .online }.count == total && !now.contains { $0.gatewayId == "gateway-1" }
        }
        let sinceGone = ContinuousClock.now - gone
        print("""
            containers: gateway-1 stopped: its \(onFirst.count) agents online through gateway-2 \(sinceGone) after the container \
            was gone (the stop itself took \(gone - stopping)); backoff cap \(Self.backoffCap) s
            """)
        #expect(back)
        // Within the cap once the gateway is gone (its sessions were closed during the stop),
        // with 2 s for a handshake and the replica's update.
        #expect(sinceGone < .seconds(Self.backoffCap + 2), "\(sinceGone)")
        try await deployment.podman(["start", deployment.container("gateway-1")])
        #expect(await eventually(timeout: .seconds(60)) {
            try await deployment.call(.GET, "\(deployment.gatewayBase(0))/readyz").status == 200
        })

        // The registry restarted: state from its volume, no agent shown offline by any gateway.
        phase("registry restarted")
        let before = try await deployment.agents()
        let restarted = Flag()
        async let watch = never(within: .seconds(60), until: { restarted.isSet }) {
            for index in 0..<2 {
                let agents = try await deployment.agents(deployment.gatewayBase(index))
                if agents.contains(where: { $0.state != .online }) { return true }
            }
            return false
        }
        // Stop, then start: `podman restart` refuses a container whose compose dependency
        // (the one-shot init) has exited, while `podman start` runs it again first.
        try await deployment.podman(["stop", "-t", "10", deployment.container("registry")])
        try await deployment.podman(["start", deployment.container("registry")])
        let ready = await eventually(timeout: .seconds(60)) {
            for index in 0..<2 where try await deployment.call(.GET, "\(deployment.gatewayBase(index))/readyz").status != 200 {
                return false
            }
            return true
        }
        try await Task.sleep(for: .seconds(5))
        restarted.set()
        #expect(await watch, "an agent was shown other than online while the registry restarted")
        #expect(ready)
        let after = try await deployment.agents()
        #expect(Set(after.map(\.id)) == Set(before.map(\.id)), "the registry's state came back from its volume")

        // Workers scaled 3 -> 1 -> 4 under load; the new ones take work with no change.
        phase("workers 3 -> 1 -> 4")
        // podman-compose 1.6's `up --scale` only adds replicas; scaling down is stopping the
        // highest-numbered ones, as `docker compose up --scale` does itself.
        try await deployment.compose(["up", "-d", "--no-recreate", "--scale", "worker=1"])
        for replica in 2...3 { try await deployment.podman(["rm", "-f", "-t", "10", deployment.container("worker", replica)]) }
        let remaining = try await deployment.running("worker")
        #expect(remaining.count == 1, "\(remaining)")
        try await Task.sleep(for: .seconds(5))
        try await deployment.compose(["up", "-d", "--no-recreate", "--scale", "worker=4"])
        let workers = try await deployment.running("worker")
        #expect(workers.count == 4, "\(workers)")
        #expect(await eventually(timeout: .seconds(60)) {
            for worker in workers {
                let metrics = try await deployment.podman(["exec", worker, "master", "probe", "--url", "http://127.0.0.1:9090/metrics", "--print"])
                guard metricValue(metrics, "fleet_worker_jobs_total") > 0 else { return false }
            }
            return true
        }, "every worker, the new ones too, took jobs")

        // The registry recreated with a new address: everyone finds it by name again.
        phase("registry recreated")
        let oldAddress = try await deployment.address(of: deployment.container("registry"))
        try await deployment.podman(["rm", "-f", "-t", "10", deployment.container("registry")])
        try await deployment.compose(["up", "-d", "--no-deps", "registry"])
        let newAddress = try await deployment.address(of: deployment.container("registry"))
        print("containers: registry recreated: \(oldAddress) -> \(newAddress)")
        #expect(newAddress != oldAddress, "the recreated registry has a new address")
        #expect(await eventually(timeout: .seconds(60)) {
            for index in 0..<2 where try await deployment.call(.GET, "\(deployment.gatewayBase(index))/readyz").status != 200 {
                return false
            }
            return try await online().count == total
        }, "both gateways reconnected to the registry by name, every agent online")
        try await Task.sleep(for: .seconds(10))
        phase("after")
        try await Task.sleep(for: .seconds(5))
    }
}
