import ArgumentParser
import FleetProtocol
import Foundation

/// `bench connect`: a connection storm of N idle agents, then all of them leave.
struct ConnectScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect",
        abstract: "N agents connect as fast as allowed; handshake latency, server CPU per handshake, memory per idle agent and after they leave."
    )

    @OptionGroup var harness: HarnessOptions
    @Option(help: "Agents.") var agents: Int = 1000
    @Option(help: "Most handshakes in flight at once, over all swarm processes.") var inFlight: Int = 256
    @Option(help: "Seconds to let memory settle before each reading.") var settle: Double = 3

    func run() async throws {
        try await Harness.run(harness) { context in
            let result = try await context.with(label: "connect") { topology, master in
                let fleet = try SimulatedFleet(topology: topology, options: .init(agents: agents, heartbeatInterval: 0, inFlight: inFlight))
                try await Task.sleep(for: .seconds(settle))
                let idle = TopologyUsage.read(topology)

                let started = ContinuousClock.now
                try await fleet.connectAll()
                let elapsed = (ContinuousClock.now - started).inSeconds
                let afterStorm = TopologyUsage.read(topology)
                let handshakes = try await fleet.handshakes()
                let registryStarted = ContinuousClock.now
                while try await master.agentsOnline() < agents {
                    guard ContinuousClock.now - registryStarted < .seconds(60) else { throw BenchError("registry never showed all online") }
                    try await Task.sleep(for: .milliseconds(50))
                }

                try await Task.sleep(for: .seconds(settle))
                let connected = TopologyUsage.read(topology)
                let gatewayNames = topology.gateways.map(\.name)
                let perGateway = Double(agents) / Double(gatewayNames.count)
                let growth = gatewayNames.map { Double((connected.byRole[$0]?.rssBytes ?? 0) - (idle.byRole[$0]?.rssBytes ?? 0)) }
                let perAgent = growth.reduce(0, +) / Double(gatewayNames.count) / perGateway

                fleet.send("stop")
                _ = await fleet.wait(timeout: .seconds(30)) { $0.online == 0 }
                let goneStarted = ContinuousClock.now
                while try await master.agentsOnline() > 0, ContinuousClock.now - goneStarted < .seconds(30) {
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await Task.sleep(for: .seconds(settle))
                let after = TopologyUsage.read(topology)
                let idleRSS = gatewayNames.map { Double(idle.byRole[$0]?.rssBytes ?? 0) }.reduce(0, +)
                let afterRSS = gatewayNames.map { Double(after.byRole[$0]?.rssBytes ?? 0) }.reduce(0, +)
                let cpu = afterStorm.cpu(since: idle)
                let progress = fleet.progress
                await fleet.quit()

                return ScenarioResult(
                    scenario: "connect", topology: topology.summary,
                    parameters: ["agents": "\(agents)", "in-flight": "\(inFlight)"],
                    figures: [
                        Figure("connections per second", Double(agents) / elapsed, "/s"),
                        Figure("all welcomed after", elapsed, "s"),
                        Figure("handshake p50", Double(handshakes.valueAtPercentile(50)) / 1000, "ms"),
                        Figure("handshake p99", Double(handshakes.valueAtPercentile(99)) / 1000, "ms"),
                        .atMost("server CPU per handshake", cpu / Double(agents) * 1000, "ms", 0.5),
                        .atMost("gateway RSS per idle agent", perAgent / 1024, "KB", 16),
                        Figure("gateway RSS idle", idleRSS / 1_048_576, "MiB"),
                        Figure("gateway RSS connected", gatewayNames.map { Double(connected.byRole[$0]?.rssBytes ?? 0) }.reduce(0, +) / 1_048_576, "MiB"),
                        .atMost("gateway RSS after all left, vs idle", (afterRSS / max(1, idleRSS) - 1) * 100, "%", 10),
                        Figure("all master processes RSS connected", Double(connected.rssBytes) / 1_048_576, "MiB"),
                        Figure("refused or failed handshakes", Double(progress.connectFailures + progress.upgradeFailures + progress.handshakeTimeouts), ""),
                    ]
                )
            }
            try context.reporter.emit(result)
        }
    }
}
