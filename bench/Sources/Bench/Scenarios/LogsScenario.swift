import ArgumentParser
import FleetProtocol
import Foundation
import Topology

/// `bench logs`: log uploads through the callback-workers, for 1, 2 and 4 workers.
struct LogsScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Log uploads of a given size through 1, 2 and 4 callback-workers (split topology): throughput and peak RSS of every process."
    )

    @OptionGroup var harness: HarnessOptions
    @Option(help: "Agents that upload.") var agents: Int = 8
    @Option(help: "Size of each upload, MiB.") var size: Int = 32
    @Option(help: "Uploads per run (spread over the agents, all at once).") var uploads: Int = 16
    @Option(name: .customLong("worker-counts"), help: "Worker counts to compare, comma separated.") var workerCounts: String = "1,2,4"

    func run() async throws {
        try await Harness.run(harness) { context in
            let counts = workerCounts.split(separator: ",").compactMap { Int($0) }
            for workers in counts {
                let layout = Topology.Layout.split(gateways: max(1, harness.gateways), workers: workers)
                let result = try await context.with(label: "logs", layout: layout) { topology, master in
                    let fleet = try SimulatedFleet(topology: topology, options: .init(agents: agents, heartbeatInterval: 60))
                    try await fleet.connectAll()
                    let ids = agentIDs(fleet)
                    let bytes = size << 20
                    let peaks = PeakSampler()
                    peaks.start(topology)
                    let before = try await master.requestsFinished(kind: "logs")
                    let failedBefore = try await master.requestsFinished(kind: "logs", state: "failed")
                    let started = ContinuousClock.now
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for index in 0..<uploads {
                            group.addTask {
                                let (status, _) = try await master.callback(
                                    agent: ids[index % ids.count], kind: "logs", args: #"{"file":"bench.log","tail":\#(bytes)}"#,
                                    wait: nil, gateway: topology.gateways[index % topology.gateways.count]
                                )
                                guard status == 202 || status == 200 else { throw BenchError("logs request: HTTP \(status)") }
                            }
                        }
                        try await group.waitForAll()
                    }
                    var failed = 0
                    while true {
                        let done = try await master.requestsFinished(kind: "logs") - before
                        failed = try await master.requestsFinished(kind: "logs", state: "failed") - failedBefore
                        if done + failed >= uploads { break }
                        guard ContinuousClock.now - started < .seconds(600) else { throw BenchError("logs: uploads did not finish in 600 s") }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    let elapsed = (ContinuousClock.now - started).inSeconds
                    let peak = await peaks.stop()
                    await fleet.quit()
                    var figures = [
                        Figure("throughput", Double(uploads * bytes) / elapsed / 1_048_576, "MiB/s"),
                        Figure("all \(uploads) uploads stored after", elapsed, "s"),
                        .atMost("uploads failed", Double(failed), "", 0),
                    ]
                    for role in topology.processes {
                        figures.append(Figure("\(role.name) peak RSS", Double(peak[role.name] ?? 0) / 1_048_576, "MiB"))
                    }
                    return ScenarioResult(
                        scenario: "logs", topology: topology.summary,
                        parameters: ["agents": "\(agents)", "size": "\(size) MiB", "uploads": "\(uploads)", "workers": "\(workers)"],
                        figures: figures
                    )
                }
                try context.reporter.emit(result)
            }
        }
    }
}
