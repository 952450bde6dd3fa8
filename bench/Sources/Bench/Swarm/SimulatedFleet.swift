import Foundation
import Spawn
import Histogram
import Synchronization
import Topology

/// The whole simulated fleet: N agents spread over `bench swarm` child processes (at most
/// `perProcess` each, so none nears the ~20,000-file limit), gateways taken round-robin.
final class SimulatedFleet: Sendable {
    let processes: [SwarmProcess]
    let count: Int

    struct Options: Sendable {
        var agents: Int
        var heartbeatInterval: Double
        var perProcess = 12_000
        var inFlight = 256
        var backoffBase = 0.5
        var backoffCap = 5.0
        /// Id prefix; a run's agents are `<prefix><process>-<n>`.
        var prefix = "sim"
    }

    init(topology: Topology, options: Options, bench: String = HarnessOptions.benchBinary) throws {
        let urls = topology.gateways.compactMap(\.ws)
        let processCount = max(1, (options.agents + options.perProcess - 1) / options.perProcess)
        var processes: [SwarmProcess] = []
        var first = 0
        for index in 0..<processCount {
            let share = options.agents / processCount + (index < options.agents % processCount ? 1 : 0)
            // Each process starts on a different gateway, so its agents spread evenly over all.
            let rotated = Array(urls[(index % urls.count)...] + urls[..<(index % urls.count)])
            processes.append(try SwarmProcess(bench: bench, agentCount: share, arguments: [
                "swarm", "--agents", "\(share)", "--prefix", "\(options.prefix)\(index)", "--first-index", "\(first)",
                "--gateways", rotated.joined(separator: ","), "--token", topology.agentToken,
                "--interval", "\(options.heartbeatInterval)", "--sources", topology.agentSourceAddresses.joined(separator: ","),
                "--in-flight", "\(max(1, options.inFlight / processCount))",
                "--backoff-base", "\(options.backoffBase)", "--backoff-cap", "\(options.backoffCap)",
            ]))
            first += share
        }
        self.processes = processes
        count = options.agents
    }

    var progress: SwarmProgress { processes.map(\.progress).reduce(SwarmProgress(), +) }

    func send(_ command: String) { for process in processes { process.send(command) } }

    /// Waits until `condition` holds for the summed progress; false on timeout.
    func wait(timeout: Duration, poll: Duration = .milliseconds(20), _ condition: (SwarmProgress) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(progress) { return true }
            if processes.contains(where: { !$0.isRunning }) { return false }
            try? await Task.sleep(for: poll)
        }
        return condition(progress)
    }

    /// Starts every agent's connection (a bounded storm) and waits until all have been
    /// welcomed: a minute plus a second per 100 agents, or it throws with the fleet's figures.
    func connectAll() async throws {
        send("connect")
        guard await wait(timeout: .seconds(60 + Double(count) / 100), { $0.welcomes >= count }) else {
            throw BenchError("only \(progress.welcomes) of \(count) agents were welcomed: \(progress)")
        }
    }

    /// Every process's handshake histogram since the last call, merged.
    func handshakes() async throws -> Histogram<UInt64> {
        var merged = Histogram<UInt64>(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)
        for process in processes {
            merged.add(try await process.histogram())
        }
        return merged
    }

    func quit() async {
        for process in processes { await process.quit() }
    }
}

/// One `bench swarm` child: commands go to its stdin, its progress lines are read on a thread.
final class SwarmProcess: @unchecked Sendable {
    // @unchecked Sendable: the stdin handle is a thread-safe Foundation object; everything
    // that changes lives in `state`, behind a Mutex.
    private let process: ChildProcess
    private let input: FileHandle
    let agentCount: Int
    private struct State: Sendable {
        var progress = SwarmProgress()
        var histogram: Histogram<UInt64>?
    }
    private let state = Locked(State())

    init(bench: String, agentCount: Int, arguments: [String]) throws {
        self.agentCount = agentCount
        let stdin = Pipe(), stdout = Pipe()
        process = try ChildProcess(
            executable: bench, arguments: arguments,
            stdin: .descriptor(stdin.fileHandleForReading.fileDescriptor),
            stdout: .descriptor(stdout.fileHandleForWriting.fileDescriptor), stderr: .inherit
        )
        // The child's ends: closed here, so the reader sees end of file when the child exits.
        try stdin.fileHandleForReading.close()
        try stdout.fileHandleForWriting.close()
        input = stdin.fileHandleForWriting
        ChildProcesses.add(process.pid)
        let reader = stdout.fileHandleForReading
        let thread = Thread { [state] in
            var buffer = Data()
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let newline = buffer.firstIndex(of: 0x0A) {
                    let line = buffer[buffer.startIndex..<newline]
                    buffer.removeSubrange(buffer.startIndex...newline)
                    guard let message = try? JSONDecoder().decode(SwarmMessage.self, from: line) else { continue }
                    state.withLock { state in
                        if let progress = message.progress { state.progress = progress }
                        if let histogram = message.handshakes { state.histogram = histogram }
                    }
                }
            }
        }
        thread.start()
    }

    var isRunning: Bool { process.isRunning }
    var progress: SwarmProgress { state.withLock { $0.progress } }

    func send(_ command: String) {
        try? input.write(contentsOf: Data((command + "\n").utf8))
    }

    func histogram() async throws -> Histogram<UInt64> {
        state.withLock { $0.histogram = nil }
        send("histogram")
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let histogram = state.withLock({ $0.histogram }) { return histogram }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw BenchError("a swarm process did not report its histogram")
    }

    func quit() async {
        send("quit")
        try? input.close()
        if await process.wait(timeout: .seconds(10)) == nil { await process.stop(grace: .seconds(5)) }
        ChildProcesses.remove(process.pid)
    }
}
