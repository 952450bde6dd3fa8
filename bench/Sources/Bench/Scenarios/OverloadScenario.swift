import ArgumentParser
import AsyncHTTPClient
import FleetProtocol
import Foundation
import NIOCore
import Topology

/// `bench overload`: more heartbeats offered than the master applies, for a while. Overload
/// must be a state, not a failure (issue 13): no agent that stays connected may be shown
/// other than online by any gateway, and memory must stay bounded. Choose `--agents` and
/// `--interval` at a multiple of the ceiling `bench steady` measured.
struct OverloadScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "overload",
        abstract: "Heartbeats offered beyond the ceiling for a while: false transitions seen by any gateway, offered vs applied (and coalesced by gateways), peak RSS of every role.",
        discussion: "Every connected agent stays connected, so an agent any gateway lists as disconnected or offline during the window is a false transition."
    )

    @OptionGroup var harness: HarnessOptions
    @Option(help: "Agents.") var agents: Int = 1000
    @Option(help: "Heartbeat interval, seconds (agents / interval is the offered rate).") var interval: Double = 1
    @Option(help: "Overloaded window, seconds.") var duration: Double = 60
    @Option(help: "How often every gateway's view is read, seconds.") var poll: Double = 1
    @Option(help: "Heartbeat interval while the fleet connects and settles, seconds (a rate the master sustains; the overload starts once all are welcomed).")
    var connectInterval: Double = 10
    @Option(help: "Seconds after the last welcome before the overload, at the connect interval (or, with --registry-cpu, at --interval before the quota): the steady RSS the peak is compared with.")
    var settle: Double = 10
    @Option(help: "CPU the registry may use during the overloaded window, in cores (a cgroup quota; needs root): makes it the ceiling where the bench shares the cores and cannot itself offer a multiple of what the master takes.")
    var registryCpu: Double?

    func run() async throws {
        var harness = self.harness
        harness.allowFrames(every: min(interval, connectInterval))
        try await Harness.run(harness) { context in
            let result = try await context.with(label: "overload") { topology, master in
                try await measure(topology: topology, master: master)
            }
            try context.reporter.emit(result)
        }
    }

    private func measure(topology: Topology, master: MasterClient) async throws -> ScenarioResult {
        // Connected at a rate the master sustains, settled, then overloaded: a storm of
        // handshakes under overload is a different test (admission, 1013), not this one.
        let fleet = try SimulatedFleet(topology: topology, options: .init(agents: agents, heartbeatInterval: connectInterval))
        try await Task.sleep(for: .seconds(2))
        try await fleet.connectAll()
        // The steady RSS the peak is compared with: with a CPU quota, the registry at the
        // offered rate before its ceiling is lowered (the overload is then 'offered / what the
        // quota lets it apply'); without one, the fleet at the connect rate.
        if registryCpu != nil { fleet.send("interval \(interval)") }
        try await Task.sleep(for: .seconds(settle))
        let steadyUsage = TopologyUsage.read(topology)
        if registryCpu == nil { fleet.send("interval \(interval)") }
        let quota = try registryCpu.flatMap { cores in
            try topology.registry.map { try CPUQuota(pid: $0.pid, cores: cores, name: "fleet-bench-\($0.pid)") }
        }
        defer { quota?.remove() }
        let peaks = PeakSampler()
        peaks.start(topology, every: .milliseconds(200))
        let startUsage = TopologyUsage.read(topology)
        let startSent = fleet.progress.heartbeats
        let startApplied = try await master.heartbeatsApplied()
        let started = ContinuousClock.now
        var worst = 0
        var falseSightings = 0
        var polls = 0
        var unanswered = 0
        while ContinuousClock.now - started < .seconds(duration) {
            for gateway in topology.gateways {
                do {
                    let shown = try await notOnline(gateway, master: master)
                    worst = max(worst, shown)
                    if shown > 0 { falseSightings += 1 }
                } catch {
                    unanswered += 1  // a gateway too busy to answer in 10 s: counted, not a transition
                }
            }
            polls += 1
            try await Task.sleep(for: .seconds(poll))
        }
        let window = (ContinuousClock.now - started).inSeconds
        let endUsage = TopologyUsage.read(topology)
        let endSent = fleet.progress.heartbeats
        let endApplied = try await master.heartbeatsApplied()
        var coalesced = 0.0
        for gateway in topology.gateways { coalesced += try await master.metric(gateway, "fleet_gateway_heartbeats_coalesced_total") }
        var lost = 0.0
        if let registry = topology.registry { lost = try await master.metric(registry, "fleet_registry_gateways_lost_total") }
        let rss = await peaks.stop()
        let throttled = quota?.throttledSeconds ?? 0
        let online = fleet.progress.online
        let failures = fleet.progress.connectFailures + fleet.progress.upgradeFailures + fleet.progress.handshakeTimeouts
        fleet.send("stop")
        _ = await fleet.wait(timeout: .seconds(30)) { $0.online == 0 }
        await fleet.quit()

        let cpu = endUsage.cpu(since: startUsage)
        var figures: [Figure] = [
            Figure("heartbeats offered per second", Double(endSent - startSent) / window, "/s"),
            Figure("heartbeats applied per second (registry)", (endApplied - startApplied) / window, "/s"),
            Figure("heartbeats coalesced by gateways", coalesced, ""),
            .atMost("agents shown disconnected or offline by a gateway (most at once)", Double(worst), "", 0),
            Figure("gateway views that showed any (of \(polls * topology.gateways.count))", Double(falseSightings), ""),
            .atMost("gateways declared lost by the registry", lost, "", 0),
            Figure("gateway views not answered within 10 s", Double(unanswered), ""),
            Figure("agents connected at the end", Double(online), ""),
            Figure("refused or failed handshakes", Double(failures), ""),
            Figure("CPU of all master processes", cpu / window * 100, "% of one core"),
            Figure("registry held back by its CPU quota", throttled, "s"),
        ]
        for role in topology.processes {
            let steady = Double(steadyUsage.byRole[role.name]?.rssBytes ?? 0)
            let peak = Double(rss[role.name] ?? 0)
            figures.append(Figure("\(role.name) peak RSS", peak / 1_048_576, "MiB"))
            figures.append(.atMost("\(role.name) peak RSS / steady RSS (before the overload)", steady > 0 ? peak / steady : 0, "x", 2))
        }
        return ScenarioResult(
            scenario: "overload", topology: topology.summary,
            parameters: [
                "agents": "\(agents)", "interval": Figure.format(interval), "duration": Figure.format(duration),
                "connect_interval": Figure.format(connectInterval), "settle": Figure.format(settle), "registry_cpu": registryCpu.map(Figure.format) ?? "-",
            ],
            figures: figures
        )
    }

    /// How many agents `gateway` lists as disconnected or offline (two small reads: `total`).
    private func notOnline(_ gateway: RoleProcess, master: MasterClient) async throws -> Int {
        var count = 0
        for state in ["disconnected", "offline"] {
            var request = HTTPClientRequest(url: "\(gateway.http ?? "")/api/v1/agents?state=\(state)&limit=1")
            request.headers.add(name: "Authorization", value: "Bearer \(master.topology.adminToken)")
            let response = try await master.http.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 20)
            guard response.status.code == 200 else { throw BenchError("\(gateway.name): \(response.status.code)") }
            count += try FleetJSON.decode(AgentListResponse.self, from: body.readableBytesView).total
        }
        return count
    }
}
