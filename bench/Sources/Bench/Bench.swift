import ArgumentParser
import AsyncHTTPClient
import Foundation
import Topology

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load harness for the fleet master: simulated agents speaking the real protocol.",
        discussion: """
        Every scenario starts its own master from the built binaries (all-in-one `master serve`, or \
        split into a registry, gateways and callback-workers, optionally one network namespace per \
        role), drives it with simulated agents (thousands per process on SwiftNIO, spread over several \
        127.0.0.x source addresses and over several processes past 12,000), and measures the master's \
        processes from /proc and its /metrics. Results print as a table; --json appends them as JSON \
        lines; `steady` with several --agents values draws an SVG chart of cost as the fleet grows.

        Scenarios:
          connect    N agents connect as fast as allowed: connections/s, handshake p50/p99, server \
        CPU per handshake, gateway memory per idle agent and after all disconnect.
          steady     N agents heartbeat every H s with a realistic snapshot: ingest rate at the \
        registry, drops, CPU per 100k heartbeats, RSS of every process, memory per agent.
          callback   status requests at a rate (RTT p50/p99/p999), and one status to every agent at \
        once (time until all results are in).
          logs       log uploads of a given size with 1, 2 and 4 callback-workers: throughput, peak RSS.
          reconnect  restart a gateway under N agents: time until all are back online.

        Example: swift build -c release && .build/release/bench steady --agents 1000,5000,10000 --interval 10
        """,
        subcommands: [ConnectScenario.self, SteadyScenario.self, OverloadScenario.self, CallbackScenario.self, LogsScenario.self, ReconnectScenario.self, SwarmCommand.self]
    )
}

/// Options every scenario shares: which master to start and where results go.
struct HarnessOptions: ParsableArguments {
    @Option(help: "all-in-one (master serve) or split.") var topology: TopologyKind = .allInOne
    @Option(help: "Gateways in a split topology.") var gateways: Int = 1
    @Option(help: "Callback-workers in a split topology.") var workers: Int = 1
    @Flag(help: "Run each master role in its own network namespace (needs root and iproute2).") var netns = false
    @Option(help: "The master binary (default: next to this one).") var master: String?
    @Option(help: "Append results as JSON lines to this file.") var json: String?
    @Option(help: "Where masters keep data and logs, kept after the run (default: a new temporary directory, removed unless the run fails).") var workDir: String?
    @Option(help: "Extra master setting, key=value (repeatable).") var set: [String] = []

    /// Simulated agents may beat far faster than real ones (300 s): the per-session frame limit
    /// (`gateway.agent_rate`, 2/s, burst 30) would close them, which is the limit working, not
    /// load. Raised to twice the fastest rate unless the command sets it.
    mutating func allowFrames(every interval: Double) {
        guard !set.contains(where: { $0.hasPrefix("gateway.agent_rate=") }) else { return }
        set += ["gateway.agent_rate=\(Figure.format(max(2, 4 / interval)))"]
    }

    enum TopologyKind: String, ExpressibleByArgument, Sendable {
        case allInOne = "all-in-one"
        case split
    }

    var layout: Topology.Layout {
        switch topology {
        case .allInOne: .allInOne
        case .split: .split(gateways: gateways, workers: workers)
        }
    }

    static var benchBinary: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? URL(fileURLWithPath: CommandLine.arguments[0]).path
    }

    func makeTopology(label: String, layout: Topology.Layout? = nil) throws -> Topology {
        // Absolute: children are started by path, never by a PATH search or relative to a cwd.
        let binary = URL(fileURLWithPath: master ?? URL(fileURLWithPath: Self.benchBinary).deletingLastPathComponent().appendingPathComponent("master").path).path
        let root = workDir.map { URL(fileURLWithPath: $0) } ?? FileManager.default.temporaryDirectory
        let directory = root.appendingPathComponent("fleet-bench-\(label)-\(UUID().uuidString.prefix(6))")
        return try Topology(layout: layout ?? self.layout, directory: directory, masterBinary: binary, extraSettings: set, networkNamespaces: netns)
    }
}

/// What every scenario run needs around its topology.
struct Harness {
    let options: HarnessOptions
    let http: HTTPClient
    let reporter: Reporter

    init(_ options: HarnessOptions) {
        self.options = options
        Self.raiseFileLimit()
        ChildProcesses.stopOnSignals()
        // A swarm process that died must not take the orchestrator with it when it is next written to.
        signal(SIGPIPE, SIG_IGN)
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 128)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        reporter = Reporter(jsonPath: options.json)
    }

    /// Starts a topology, runs `body`, always stops everything.
    func with<T>(label: String, layout: Topology.Layout? = nil, _ body: (Topology, MasterClient) async throws -> T) async throws -> T {
        let topology = try options.makeTopology(label: label, layout: layout)
        do {
            try await topology.start()
            let result = try await body(topology, MasterClient(http: http, topology: topology))
            await topology.stop()
            // Asked for by name (`--work-dir`): kept, logs and stores, to be read afterwards.
            if options.workDir == nil { try? FileManager.default.removeItem(at: topology.directory) }
            return result
        } catch {
            await topology.stop()
            FileHandle.standardError.write(Data("bench: \(error)\nlogs kept in \(topology.directory.path)\n".utf8))
            throw error
        }
    }

    func shutdown() async {
        try? await http.shutdown()
    }

    /// Runs a scenario with a harness that is shut down however the scenario ends.
    static func run(_ options: HarnessOptions, _ body: (Harness) async throws -> Void) async throws {
        let harness = Harness(options)
        do {
            try await body(harness)
            await harness.shutdown()
        } catch {
            await harness.shutdown()
            throw error
        }
    }

    /// Children (the master's roles, the swarm processes) inherit the raised limit, so a
    /// gateway can hold as many connections as the hard limit allows.
    static func raiseFileLimit() {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(RLIMIT_NOFILE_VALUE, &limit)
    }
}

#if canImport(Glibc)
import Glibc
let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
#else
let RLIMIT_NOFILE_VALUE = RLIMIT_NOFILE
#endif
