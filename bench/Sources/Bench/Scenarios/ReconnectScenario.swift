import ArgumentParser
import FleetProtocol
import Foundation

/// `bench reconnect`: restart a gateway (all-in-one: the whole master) under N agents.
struct ReconnectScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconnect",
        abstract: "Restart a gateway under N agents (all-in-one: the whole master); time until all are back online."
    )

    @OptionGroup var harness: HarnessOptions
    @Option(help: "Agents.") var agents: Int = 1000
    @Option(help: "Agents' first reconnect delay ceiling, seconds (full jitter, doubling).") var backoffBase: Double = 0.5
    @Option(help: "Agents' reconnect delay cap, seconds.") var backoffCap: Double = 5

    func run() async throws {
        try await Harness.run(harness) { context in
            let result = try await context.with(label: "reconnect") { topology, master in
                let fleet = try SimulatedFleet(topology: topology, options: .init(
                    agents: agents, heartbeatInterval: 30, backoffBase: backoffBase, backoffCap: backoffCap
                ))
                try await fleet.connectAll()
                let lostBefore = fleet.progress.sessionsLost
            let started = ContinuousClock.now
            try await topology.restartGateway(0)
            let restarted = (ContinuousClock.now - started).inSeconds
            // Back = the losses have been seen (progress arrives every 200 ms) and every agent
            // has a session again (the agents' view); then the registry counts every agent
            // online again (the operators' view).
            guard await fleet.wait(timeout: .seconds(120), { $0.sessionsLost > lostBefore }),
                  await fleet.wait(timeout: .seconds(120), { $0.online >= agents }) else {
                throw BenchError("agents not back after 120 s: \(fleet.progress)")
            }
            let agentsBack = (ContinuousClock.now - started).inSeconds
                while try await master.agentsOnline() < agents {
                    guard ContinuousClock.now - started < .seconds(120) else { throw BenchError("registry never showed all online again") }
                    try await Task.sleep(for: .milliseconds(50))
                }
                let registryBack = (ContinuousClock.now - started).inSeconds
            let lost = fleet.progress.sessionsLost - lostBefore
                await fleet.quit()
                return ScenarioResult(
                    scenario: "reconnect", topology: topology.summary,
                    parameters: ["agents": "\(agents)", "backoff": "\(Figure.format(backoffBase))..\(Figure.format(backoffCap)) s"],
                    figures: [
                        Figure("agents that lost their session", Double(lost), ""),
                        Figure("gateway stopped and ready again after", restarted, "s"),
                        Figure("every agent has a new session after", agentsBack, "s"),
                        agents >= 10_000
                            ? .atMost("registry shows all online after", registryBack, "s", 15)
                            : Figure("registry shows all online after", registryBack, "s"),
                    ]
                )
            }
            try context.reporter.emit(result)
        }
    }
}
