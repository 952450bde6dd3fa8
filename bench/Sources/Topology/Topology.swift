import Foundation
import Spawn

/// Starts a master from the built `master` binary, all-in-one (`master serve`) or split into a
/// registry, G gateways and W callback-workers, each on ports it picks itself (reported through
/// `--ready-file`), optionally each role in a network namespace of its own (``NetworkLab``).
///
/// The bench uses it to put a master under load; its smoke test (`BenchSmokeTests`) runs it too.
public final class Topology: @unchecked Sendable {
    // @unchecked Sendable: mutated only by the one task that drives a bench run.

    public enum Layout: Sendable, CustomStringConvertible {
        case allInOne
        case split(gateways: Int, workers: Int)

        public var description: String {
            switch self {
            case .allInOne: "all-in-one"
            case .split(let gateways, let workers): "split (\(gateways) gateway\(gateways == 1 ? "" : "s"), \(workers) worker\(workers == 1 ? "" : "s"))"
            }
        }
    }

    public let layout: Layout
    public let directory: URL
    public let masterBinary: String
    public let agentToken: String
    public let adminToken: String
    /// `--set key=value` pairs given to every role (e.g. `heartbeat.timeout=30`).
    public let extraSettings: [String]
    public private(set) var registry: RoleProcess?
    public private(set) var gateways: [RoleProcess] = []
    public private(set) var workers: [RoleProcess] = []
    private var lab: NetworkLab?
    /// With network namespaces the bus crosses a real (bridge) network, where `master` refuses
    /// to run it without keys: the roles then use CURVE keys made by `master keys generate`,
    /// so the bench measures what a deployment across hosts runs. Per role: its `bus.curve.*`.
    private var curveSettings: [String: [String]] = [:]

    /// The layout, and whether roles have namespaces of their own: how results name the topology.
    public var summary: String { layout.description + (lab != nil ? ", one network namespace per role" : "") }

    /// Every master process now running (for CPU and RSS sampling).
    public var processes: [RoleProcess] { [registry].compactMap { $0 } + gateways + workers }

    public init(
        layout: Layout, directory: URL, masterBinary: String, extraSettings: [String] = [], networkNamespaces: Bool = false
    ) throws {
        self.layout = layout
        self.directory = directory
        self.masterBinary = masterBinary
        self.extraSettings = extraSettings
        agentToken = "bench-agent-" + UUID().uuidString
        adminToken = "bench-admin-" + UUID().uuidString
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        if networkNamespaces { lab = try NetworkLab() }
    }

    /// With network namespaces: the namespace a role runs in (`registry`, `gateway-1`, …),
    /// for a test that changes that host's network (drops packets with iptables, say).
    public func namespace(of role: String) -> String? { lab?.namespace(of: role) }

    /// The addresses the simulated agents may bind as their source: several 127.0.0.x so one
    /// process is not limited to one (source, destination) pair's ~28k ephemeral ports; on a
    /// namespaced topology, extra addresses of the bridge instead.
    public var agentSourceAddresses: [String] {
        lab?.clientAddresses ?? (2...9).map { "127.0.0.\($0)" }
    }

    public func start() async throws {
        switch layout {
        case .allInOne:
            let host = try lab?.addRole("serve") ?? "127.0.0.1"
            gateways = [try await launch("serve", role: ["serve"], host: host, http: true, liveness: true)]
        case .split(let gatewayCount, let workerCount):
            let registryHost = try lab?.addRole("registry") ?? "127.0.0.1"
            let star = "tcp://\(registryHost):*"
            if lab != nil { try await generateKeys(gateways: gatewayCount, workers: workerCount) }
            let registry = try await launch("registry", role: ["registry"], host: registryHost, http: false, liveness: true, extra: [
                "--set", "bus.events=\(star)", "--set", "bus.updates=\(star)", "--set", "bus.snapshot=\(star)",
                "--set", "bus.jobs_in=\(star)", "--set", "bus.jobs_out=\(star)", "--set", "bus.blobs=\(star)",
                "--set", "metrics.listen=\(registryHost):0",
            ])
            self.registry = registry
            guard let bus = registry.ready.bus else { throw TopologyError("registry reported no bus endpoints") }
            for index in 0..<gatewayCount {
                let name = "gateway-\(index + 1)"
                let host = try lab?.addRole(name) ?? "127.0.0.1"
                gateways.append(try await launch(name, role: ["gateway"], host: host, http: true, extra: Self.busArguments(bus)))
            }
            for index in 0..<workerCount {
                let name = "worker-\(index + 1)"
                let host = try lab?.addRole(name) ?? "127.0.0.1"
                workers.append(try await launch(name, role: ["worker"], host: host, http: false, extra: Self.busArguments(bus) + [
                    "--set", "metrics.listen=\(host):0",
                ]))
            }
        }
    }

    /// Stops gateway `index` gracefully and starts it again on the same port (for `serve`,
    /// the whole master restarts: its data directory keeps the store).
    @discardableResult
    public func restartGateway(_ index: Int) async throws -> RoleProcess {
        let old = gateways[index]
        await old.stop()
        let port = old.http.flatMap { URL(string: $0)?.port } ?? 0
        let host = old.http.flatMap { URL(string: $0)?.host } ?? "127.0.0.1"
        let fresh = try await launch(
            old.name, role: [old.ready.role == "serve" ? "serve" : "gateway"], host: host, http: true,
            liveness: old.ready.role == "serve", port: port,
            extra: registry?.ready.bus.map(Self.busArguments) ?? []
        )
        gateways[index] = fresh
        return fresh
    }

    public func stop() async {
        for role in (gateways + workers + [registry].compactMap { $0 }) { await role.stop() }
        lab?.tearDown()
        lab = nil
    }

    /// `master keys generate` into `<directory>/bus-keys`, and each role's `bus.curve.*`.
    private func generateKeys(gateways: Int, workers: Int) async throws {
        let keys = directory.appendingPathComponent("bus-keys")
        try await BusKeys.generate(master: masterBinary, into: keys, gateways: gateways, workers: workers)
        let dir = ["--set", "bus.curve.dir=\(keys.path)"]
        curveSettings["registry"] = dir
        for index in 0..<gateways { curveSettings["gateway-\(index + 1)"] = dir + ["--set", "bus.curve.key=gateway-\(index + 1)"] }
        for index in 0..<workers { curveSettings["worker-\(index + 1)"] = dir + ["--set", "bus.curve.key=worker-\(index + 1)"] }
    }

    /// `--set bus.*=` arguments that point a gateway or worker at a registry's bus.
    public static func busArguments(_ bus: RoleProcess.Ready.Bus) -> [String] {
        [
            "--set", "bus.events=\(bus.events)", "--set", "bus.updates=\(bus.updates)", "--set", "bus.snapshot=\(bus.snapshot)",
            "--set", "bus.jobs_in=\(bus.jobs_in)", "--set", "bus.jobs_out=\(bus.jobs_out)", "--set", "bus.blobs=\(bus.blobs)",
        ]
    }

    private var launches = 0

    private func launch(
        _ name: String, role: [String], host: String, http: Bool, liveness: Bool = false, port: Int = 0, extra: [String] = []
    ) async throws -> RoleProcess {
        launches += 1
        let readyFile = directory.appendingPathComponent("\(name)-\(launches).ready.json")
        try? FileManager.default.removeItem(at: readyFile)
        var arguments = role + [
            "--ready-file", readyFile.path, "--set", "data_dir=\(directory.appendingPathComponent(name).path)",
            "--set", "auth.agent_token=\(agentToken)", "--set", "auth.admin_token=\(adminToken)",
            "--set", "logging.level=warning",
        ]
        if http { arguments += ["--set", "server.host=\(host)", "--set", "server.port=\(port)"] }
        if liveness { arguments += ["--set", "registry.peer_timeout=3"] }
        arguments += extra + (curveSettings[name] ?? []) + extraSettings.flatMap { ["--set", $0] }

        let logFile = directory.appendingPathComponent("\(name).log")
        let process: ChildProcess
        if let namespace = lab?.namespace(of: name) {
            process = try ChildProcess(
                executable: "/usr/sbin/ip", arguments: ["netns", "exec", namespace, masterBinary] + arguments,
                stdout: .file(logFile.path), stderr: .file(logFile.path)
            )
        } else {
            process = try ChildProcess(executable: masterBinary, arguments: arguments, stdout: .file(logFile.path), stderr: .file(logFile.path))
        }
        ChildProcesses.add(process.pid)
        do {
            let ready = try await RoleProcess.Ready.wait(file: readyFile.path, of: process, name: name, timeout: .seconds(30)) {
                ((try? String(contentsOf: logFile, encoding: .utf8)) ?? "").suffix(2000) + "\n(log: \(logFile.path))"
            }
            return RoleProcess(name: name, arguments: arguments, process: process, ready: ready, logFile: logFile)
        } catch {
            await process.stop(grace: .seconds(5))
            ChildProcesses.remove(process.pid)
            throw error
        }
    }
}

public struct TopologyError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
