import ArgumentParser
import FleetProtocol
import Foundation
import Histogram
import Topology

/// `bench callback`: status requests to connected agents, one at a time at a fixed rate
/// (round-trip latency), then one to every agent at once (fan-out).
struct CallbackScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "callback",
        abstract: "Status requests at a rate (RTT p50/p99/p999 through the REST API with ?wait), then a fan-out of one status request to every agent."
    )

    @OptionGroup var harness: HarnessOptions
    @Option(help: "Agents.") var agents: Int = 100
    @Option(help: "Status requests per second.") var rate: Double = 50
    @Option(help: "Seconds of requests at that rate.") var duration: Double = 10
    @Option(help: "Agents' heartbeat interval, seconds (load in the background).") var interval: Double = 10
    @Option(help: "Longest wait after the last welcome for the master to settle (a probe status request answered within 1 s), seconds.")
    var settleTimeout: Double = 300
    @Flag(inversion: .prefixedNo, help: "Also send one status request to every agent at once.") var fanout = true

    func run() async throws {
        try await Harness.run(harness) { context in
            let result = try await context.with(label: "callback") { topology, master in
                let fleet = try SimulatedFleet(topology: topology, options: .init(agents: agents, heartbeatInterval: interval))
                try await fleet.connectAll()
                let ids = agentIDs(fleet)
                // Steady state, not the connection storm's aftermath: a probe every second until
                // one completes within 1 s; how long that took is a figure of its own.
                let settling = ContinuousClock.now
                var settled = false
                while ContinuousClock.now - settling < .seconds(settleTimeout) {
                    let sent = ContinuousClock.now
                    let (status, request) = try await master.callback(agent: ids[Int.random(in: 0..<ids.count)], kind: "status", wait: 10, gateway: topology.gateways[0])
                    if status == 200, request?.state == .completed, ContinuousClock.now - sent < .seconds(1) {
                        settled = true
                        break
                    }
                    try await Task.sleep(for: .seconds(1))
                }
                let settleSeconds = (ContinuousClock.now - settling).inSeconds
                // Requests are made on every gateway in turn: in a split topology most go to a
                // gateway other than the agent's, the path that crosses the bus.
                let record = Locked((latencies: Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three), failed: 0))
                let total = Int(rate * duration)
                let start = ContinuousClock.now
                try await withThrowingDiscardingTaskGroup { group in
                    for index in 0..<total {
                        // Open loop: request i leaves at start + i/rate whatever the earlier ones do.
                        let due = start + .nanoseconds(Int64(Double(index) / rate * 1e9))
                        if due > ContinuousClock.now { try await Task.sleep(until: due) }
                        let gateway = topology.gateways[index % topology.gateways.count]
                        let agent = ids[Int.random(in: 0..<ids.count)]
                        group.addTask {
                            let sent = ContinuousClock.now
                            let (status, request) = try await master.callback(agent: agent, kind: "status", wait: 10, gateway: gateway)
                            let micros = UInt64((ContinuousClock.now - sent).inSeconds * 1e6)
                            record.withLock { record in
                                _ = record.latencies.record(micros)
                                if status != 200 || request?.state != .completed { record.failed += 1 }
                            }
                        }
                    }
                }
                let (latencies, failed) = record.withLock { ($0.latencies, $0.failed) }

                var figures: [Figure] = [
                    Figure(settled ? "settled after the last welcome (a status answered in < 1 s)" : "NOT settled within the timeout", settleSeconds, "s"),
                    Figure("status requests", Double(total), ""),
                    .atMost("status requests not completed", Double(failed), "", 0),
                    Figure("status RTT p50", ms(latencies.valueAtPercentile(50)), "ms", target: isSplit(topology) ? nil : "<= 2 ms",
                           met: isSplit(topology) ? nil : ms(latencies.valueAtPercentile(50)) <= 2),
                    Figure("status RTT p99", ms(latencies.valueAtPercentile(99)), "ms", target: isSplit(topology) ? "<= 20 ms" : "<= 10 ms",
                           met: ms(latencies.valueAtPercentile(99)) <= (isSplit(topology) ? 20 : 10)),
                    Figure("status RTT p999", ms(latencies.valueAtPercentile(99.9)), "ms"),
                    Figure("status RTT max", ms(latencies.max), "ms"),
                ]

                if fanout {
                    let before = try await master.requestsFinished(kind: "status")
                    let fanStart = ContinuousClock.now
                    // Sixty-four requests in flight on each gateway: the fan-out an operator's script does.
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        var next = 0
                        for _ in 0..<min(ids.count, 64 * topology.gateways.count) {
                            let index = next; next += 1
                            group.addTask { _ = try await master.callback(agent: ids[index], kind: "status", wait: nil, gateway: topology.gateways[index % topology.gateways.count]) }
                        }
                        while try await group.next() != nil, next < ids.count {
                            let index = next; next += 1
                            group.addTask { _ = try await master.callback(agent: ids[index], kind: "status", wait: nil, gateway: topology.gateways[index % topology.gateways.count]) }
                        }
                    }
                    let posted = (ContinuousClock.now - fanStart).inSeconds
                    while try await master.requestsFinished(kind: "status") - before < ids.count {
                        guard ContinuousClock.now - fanStart < .seconds(120) else {
                            let done = try await master.requestsFinished(kind: "status") - before
                            let failed = try await master.requestsFinished(kind: "status", state: "failed")
                            throw BenchError("fan-out: \(done) of \(ids.count) results in after 120 s (\(failed) status requests failed in all); agents: \(fleet.progress)")
                        }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    let allIn = (ContinuousClock.now - fanStart).inSeconds
                    figures.append(Figure("fan-out: all \(ids.count) requests accepted after", posted, "s"))
                    // The target is set for 10,000 agents; smaller fleets report the figure alone.
                    figures.append(agents >= 10_000
                        ? .atMost("fan-out: all \(ids.count) results in after", allIn, "s", 3)
                        : Figure("fan-out: all \(ids.count) results in after", allIn, "s"))
                }
                await fleet.quit()
                return ScenarioResult(
                    scenario: "callback", topology: topology.summary,
                    parameters: ["agents": "\(agents)", "rate": Figure.format(rate), "duration": Figure.format(duration)],
                    figures: figures
                )
            }
            try context.reporter.emit(result)
        }
    }

    private func ms(_ micros: UInt64) -> Double { Double(micros) / 1000 }
    private func isSplit(_ topology: Topology) -> Bool { topology.registry != nil }
}

/// The ids a fleet's agents use (`<prefix><process>-<index>`, see ``SimulatedFleet``).
func agentIDs(_ fleet: SimulatedFleet, prefix: String = "sim") -> [String] {
    var ids: [String] = []
    var first = 0
    for (process, swarm) in fleet.processes.enumerated() {
        for offset in 0..<swarm.agentCount { ids.append("\(prefix)\(process)-\(first + offset)") }
        first += swarm.agentCount
    }
    return ids
}
