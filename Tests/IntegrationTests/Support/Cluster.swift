import FleetProtocol
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import Topology

/// A master (split or all-in-one) plus agents, as real processes on loopback, each on a
/// port it picked itself (reported through `--ready-file`). Only `withCluster` makes one, and
/// it stops everything the cluster started when the test's body ends, however it ends; logs
/// stay in `directory` for a failing test to show.
final class Cluster: @unchecked Sendable {
    // @unchecked Sendable: mutated only from the one test task that owns it.
    let directory: URL
    private(set) var processes: [FleetProcess] = []
    /// TestAgents made with `testAgent()`: closed at shutdown, whatever the test did.
    private var testAgents: [TestAgent] = []
    /// Tokens every gateway of the cluster accepts (a split deployment must share them).
    let agentToken = "agent-" + UUID().uuidString
    let adminToken = "admin-" + UUID().uuidString
    var tokenArguments: [String] { ["--set", "auth.agent_token=\(agentToken)", "--set", "auth.admin_token=\(adminToken)"] }

    /// What a role writes to its `--ready-file` (the bench's topology runner reads the same).
    typealias Ready = RoleProcess.Ready

    struct Gateway {
        var process: FleetProcess
        var http: String
        var id: String
        var port: Int
        /// ws:// beside http://, wss:// beside https:// (a TLS gateway).
        var ws: String { Cluster.webSocketURL(http) + "/ws" }
        var isTLS: Bool { http.hasPrefix("https://") }
    }

    /// `http(s)://host:port` -> `ws(s)://host:port`.
    static func webSocketURL(_ http: String) -> String {
        http.hasPrefix("https://") ? "wss://\(http.dropFirst("https://".count))" : "ws://\(http.dropFirst("http://".count))"
    }

    /// The REST base beside a gateway's WebSocket URL: `ws(s)://host:port/ws` -> `http(s)://host:port/api`.
    static func apiURL(forWebSocket ws: String) -> String {
        let base = ws.hasPrefix("wss://") ? "https://\(ws.dropFirst("wss://".count))" : "http://\(ws.dropFirst("ws://".count))"
        return base.hasSuffix("/ws") ? "\(base.dropLast("/ws".count))/api" : base
    }

    /// Runs one of our binaries (or an absolute path) to completion: its exit status (nil if
    /// it had to be killed after `timeout`), stdout and stderr.
    func run(
        _ binary: String, _ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(60)
    ) async throws -> (status: Int32?, stdout: String, stderr: String) {
        let process = try FleetProcess(
            name: "\(binary.split(separator: "/").last ?? "run")-\(UUID().uuidString.prefix(6))", binary: binary,
            arguments: arguments, directory: directory, environment: environment
        )
        let status = await process.waitForExit(timeout: timeout)
        if status == nil { await process.stop() }
        let stdout = (try? String(contentsOfFile: process.stdoutPath, encoding: .utf8)) ?? ""
        return (status, stdout, process.stderr)
    }

    /// With `curve`, the bus keys `master keys generate` wrote (registry, gateway-1…3,
    /// worker-1…3); every split role started by this cluster then uses CURVE.
    let keysDirectory: URL?
    private var gatewayKeys = 0
    private var workerKeys = 0

    /// - Parameter curve: run the bus with CURVE keys (`bus.curve.*`), as a deployment across
    ///   hosts must; without, the loopback bus has no security, as before.
    fileprivate init(_ label: String, curve: Bool = false) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-it-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        keysDirectory = curve ? directory.appendingPathComponent("bus-keys") : nil
    }

    /// `master keys generate` into `keysDirectory` (withCluster calls it: not in init, which
    /// would have to block a thread of the test run's cooperative pool until it ends).
    fileprivate func generateKeys() async throws {
        guard let keysDirectory else { return }
        try await BusKeys.generate(
            master: FleetProcess.productsDirectory.appendingPathComponent("master").path, into: keysDirectory, gateways: 3, workers: 3
        )
    }

    /// A key of the cluster's keys directory, in Z85 (`registry.pub`, `gateway-1.key`, …).
    func key(_ file: String) throws -> String {
        guard let keysDirectory else { throw HarnessError("this cluster has no CURVE keys") }
        return try String(contentsOf: keysDirectory.appendingPathComponent(file), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `bus.curve.*` for a role using keypair `name` (none without CURVE).
    func curveArguments(key name: String?) -> [String] {
        guard let keysDirectory else { return [] }
        return ["--set", "bus.curve.dir=\(keysDirectory.path)"] + (name.map { ["--set", "bus.curve.key=\($0)"] } ?? [])
    }

    /// The next unused gateway or worker keypair (`gateway-1`, `gateway-2`, …).
    private func nextKey(_ role: String) -> String? {
        guard keysDirectory != nil else { return nil }
        if role == "gateway" {
            gatewayKeys += 1
            return "gateway-\(gatewayKeys)"
        }
        workerKeys += 1
        return "worker-\(workerKeys)"
    }

    func start(_ name: String, _ binary: String, _ arguments: [String], environment: [String: String] = [:]) throws -> FleetProcess {
        let process = try FleetProcess(name: name, binary: binary, arguments: arguments, directory: directory, environment: environment)
        processes.append(process)
        return process
    }

    /// Waits for a role's ready file (and fails with its stderr if it died first), as the
    /// bench's topology does.
    func ready(_ process: FleetProcess, file: String) async throws -> Ready {
        try await Ready.wait(file: directory.appendingPathComponent(file).path, of: process.process, name: process.name, timeout: .seconds(20)) {
            process.stderr
        }
    }

    /// Tests beat every second and read the history back, so it keeps every beat (the default
    /// resolution is 60 s; RegistryCoreTests cover it).
    static let testSettings = ["--set", "registry.peer_timeout=3", "--set", "store.history_interval=0"]

    /// Starts a registry on free ports (or on `bus`, to restart one where it was).
    func startRegistry(_ extra: [String] = [], name: String = "registry", bus fixed: Ready.Bus? = nil) async throws -> Ready.Bus {
        let star = "tcp://127.0.0.1:*"
        let endpoints = fixed.map(Self.busArguments) ?? [
            "--set", "bus.events=\(star)", "--set", "bus.updates=\(star)", "--set", "bus.snapshot=\(star)",
            "--set", "bus.jobs_in=\(star)", "--set", "bus.jobs_out=\(star)", "--set", "bus.blobs=\(star)",
        ]
        let file = "\(name).json"
        let process = try start(
            name, "master",
            ["registry", "--ready-file", file, "--set", "data_dir=registry"] + endpoints + Self.testSettings + curveArguments(key: nil) + extra
        )
        guard let bus = try await ready(process, file: file).bus else { throw HarnessError("registry reported no bus") }
        return bus
    }

    /// The split topology most tests use: a registry, gateways `gateway-a`, `gateway-b`, …,
    /// and `workers` callback-workers, each its own process.
    func startSplit(gateways count: Int = 2, workers: Int = 0) async throws -> (bus: Ready.Bus, gateways: [Gateway]) {
        let bus = try await startRegistry()
        var gateways: [Gateway] = []
        for index in 0..<count {
            gateways.append(try await startGateway("gateway-\(Character(UnicodeScalar(UInt8(97 + index))))", bus: bus))
        }
        for index in 0..<workers {
            try await startWorker("worker-\(index + 1)", bus: bus)
        }
        return (bus, gateways)
    }

    func process(named name: String) -> FleetProcess? {
        processes.last { $0.name == name }
    }

    /// `POST /api/v1/agents/{id}/callbacks` with the admin token; `args` is raw JSON.
    func callback(_ gateway: Gateway, agent: String, kind: String, args: String = "{}", wait: Int? = nil) async throws -> (status: Int, body: Data) {
        let query = wait.map { "?wait=\($0)" } ?? ""
        // Longer than the gateway's own bounds: 5 s to confirm the request, then `wait`.
        return try await HTTP.post(
            "\(gateway.http)/api/v1/agents/\(agent)/callbacks\(query)", token: adminToken,
            body: Data("{\"kind\":\"\(kind)\",\"args\":\(args)}".utf8), timeout: TimeInterval(15 + (wait ?? 0))
        )
    }

    /// A callback waited for (up to 30 s), decoded.
    func finished(_ gateway: Gateway, agent: String, kind: String, args: String = "{}") async throws -> RequestRecord {
        let (status, body) = try await callback(gateway, agent: agent, kind: kind, args: args, wait: 30)
        guard status == 200 else { throw HarnessError("callback \(kind): HTTP \(status) \(String(decoding: body, as: UTF8.self))") }
        return try FleetJSON.decoder().decode(RequestRecord.self, from: body)
    }

    /// `GET /api/v1/requests/{id}` with the admin token: nil if the gateway says 404 (no such
    /// request); any other answer but 200 throws.
    func request(_ gateway: Gateway, id: String, wait: Int? = nil) async throws -> RequestRecord? {
        let query = wait.map { "?wait=\($0)" } ?? ""
        let (status, body) = try await HTTP.get("\(gateway.http)/api/v1/requests/\(id)\(query)", token: adminToken)
        if status == 404 { return nil }
        guard status == 200 else { throw HarnessError("GET request \(id): HTTP \(status) \(String(decoding: body, as: UTF8.self))") }
        return try FleetJSON.decoder().decode(RequestRecord.self, from: body)
    }

    static func busArguments(_ bus: Ready.Bus) -> [String] { Topology.busArguments(bus) }

    /// - Parameter key: with CURVE, the gateway keypair to use (default: the next unused one).
    /// - Parameter synced: return only once the gateway's replica has its first snapshot (`waitForSync`).
    func startGateway(_ name: String, bus: Ready.Bus, port: Int = 0, key: String? = nil, synced: Bool = true) async throws -> Gateway {
        let file = "\(name)-\(UUID().uuidString.prefix(4)).json"
        let process = try start(name, "master", [
            "gateway", "--ready-file", file, "--set", "data_dir=\(name)", "--set", "server.host=127.0.0.1",
            "--set", "server.port=\(port)",
        ] + Self.busArguments(bus) + tokenArguments + curveArguments(key: key ?? nextKey("gateway")))
        let ready = try await ready(process, file: file)
        let gateway = try Self.gateway(process, ready)
        if synced { try await waitForSync(gateway, name: name) }
        return gateway
    }

    @discardableResult
    func startWorker(_ name: String, bus: Ready.Bus, key: String? = nil) async throws -> FleetProcess {
        let process = try start(
            name, "master",
            ["worker", "--ready-file", "\(name).json", "--set", "data_dir=\(name)"] + Self.busArguments(bus)
                + curveArguments(key: key ?? nextKey("worker"))
        )
        _ = try await ready(process, file: "\(name).json")
        return process
    }

    /// `master serve`: the all-in-one deployment.
    func startServe(_ extra: [String] = [], name: String = "serve", port: Int = 0, synced: Bool = true) async throws -> Gateway {
        let file = "\(name).json"
        let process = try start(name, "master", [
            "serve", "--ready-file", file, "--set", "data_dir=serve", "--set", "server.host=127.0.0.1",
            "--set", "server.port=\(port)",
        ] + Self.testSettings + tokenArguments + extra)
        let gateway = try Self.gateway(process, try await ready(process, file: file))
        if synced { try await waitForSync(gateway, name: name) }
        return gateway
    }

    /// Returns once `gateway`'s replica has its first snapshot: its ready file is written when it
    /// listens, which on a loaded run can be seconds before, and an agent connecting in between
    /// is told the gateway is unavailable.
    func waitForSync(_ gateway: Gateway, name: String) async throws {
        struct Readyz: Decodable {
            struct Replica: Decodable { var synced: Bool }
            var replica: Replica?
        }
        // A TLS gateway's certificate is from a test CA URLSession does not trust: the TLS tests
        // look for themselves.
        guard !gateway.http.hasPrefix("https://") else { return }
        let process = gateway.process
        let isSynced = await eventually(timeout: .seconds(30)) {
            guard process.isRunning else { throw HarnessError("\(name) exited:\n\(process.stderr)") }
            let (_, body) = try await HTTP.get("\(gateway.http)/readyz")
            return try JSONDecoder().decode(Readyz.self, from: body).replica?.synced == true
        }
        guard isSynced else { throw HarnessError("\(name) did not sync its replica within 30 s:\n\(process.stderr.suffix(2000))") }
    }

    static func gateway(_ process: FleetProcess, _ ready: Ready) throws -> Gateway {
        guard let http = ready.http, let id = ready.gatewayId, let port = URL(string: http)?.port else {
            throw HarnessError("\(process.name) reported no http address")
        }
        return Gateway(process: process, http: http, id: id, port: port)
    }

    /// Starts an agent connected to `urls` (failover order) with a 1 s heartbeat; returns
    /// the process and the agent id it created.
    func startAgent(
        _ name: String, urls: [String], apiURL: String? = nil, id presetID: String? = nil, copyingCredentialFrom source: String? = nil,
        extra: [String] = [], environment: [String: String] = [:]
    ) async throws -> (FleetProcess, String) {
        if let presetID {
            // As if the state directory had been copied from another host.
            let state = directory.appendingPathComponent("\(name)/state")
            try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
            try "\(presetID)\n".write(to: state.appendingPathComponent("agent-id"), atomically: true, encoding: .utf8)
            if let source {
                try FileManager.default.copyItem(
                    at: credentialFile(of: source), to: state.appendingPathComponent("credential")
                )
            }
        }
        var arguments = [
            "run", "--set", "master.url=\(urls[0])", "--set", "metrics.interval=1",
            "--set", "agent.state_dir=\(name)/state", "--set", "logging.dir=\(name)/logs",
            "--set", "connection.backoff_base=0.2", "--set", "connection.backoff_cap=1",
            "--set", "master.token=\(agentToken)",
        ]
        if urls.count > 1 { arguments += ["--set", "master.urls=[\(urls.dropFirst().joined(separator: ", "))]"] }
        let api = apiURL ?? Self.apiURL(forWebSocket: urls[0])
        arguments += ["--set", "master.api_url=\(api)"] + extra
        let process = try start(name, "agent", arguments, environment: environment)
        let idFile = directory.appendingPathComponent("\(name)/state/agent-id").path
        let found = await eventually(timeout: .seconds(10)) { FileManager.default.fileExists(atPath: idFile) }
        guard found, let id = try? String(contentsOfFile: idFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) else {
            throw HarnessError("\(name) wrote no agent id:\n\(process.stderr)")
        }
        return (process, id)
    }

    /// Where the agent started as `name` keeps the credential it was issued.
    func credentialFile(of name: String) -> URL {
        directory.appendingPathComponent("\(name)/state/credential")
    }

    /// `GET /api/v1/agents` on a gateway.
    func agents(_ gateway: Gateway) async throws -> [AgentRecord] {
        let (status, body) = try await HTTP.get("\(gateway.http)/api/v1/agents", token: adminToken)
        guard status == 200 else { throw HarnessError("GET agents on \(gateway.id): HTTP \(status) \(String(decoding: body, as: UTF8.self))") }
        return try FleetJSON.decoder().decode(AgentListResponse.self, from: body).agents
    }

    /// id -> state, as a gateway reports it. Throws when the gateway does not answer 200 (never
    /// an empty answer: "nobody is offline" must not be what a 503 looks like).
    func states(_ gateway: Gateway) async throws -> [String: AgentState] {
        let agents = try await agents(gateway)
        return Dictionary(agents.map { ($0.id, $0.state) }, uniquingKeysWith: { first, _ in first })
    }

    /// A protocol-level test agent (`TestAgent`) that is closed when the cluster shuts down.
    func testAgent(id: String = "test-" + UUID().uuidString.prefix(8).lowercased()) -> TestAgent {
        let agent = TestAgent(id: id)
        testAgents.append(agent)
        return agent
    }

    /// Every log, for a failure message.
    func logs() -> String {
        processes.map { "--- \($0.name) (pid \($0.pid))\n\($0.stderr.suffix(3000))" }.joined(separator: "\n")
    }

    /// Stops everything, registries last: a gateway stopped after its registry waits out its
    /// linger for the events it can no longer deliver. Test agents are closed after the
    /// processes (their peer gone, that is immediate; a stopped gateway cannot stall it).
    /// Safe to call more than once.
    func shutdown() async {
        let ordered = processes.reversed().filter { !$0.name.hasPrefix("registry") } + processes.filter { $0.name.hasPrefix("registry") }
        for process in ordered { await process.stop() }
        for agent in testAgents { await agent.close() }
    }
}

/// MemTotal from /proc/meminfo, in bytes, read independently of the agent's collector.
func memTotalBytes() throws -> UInt64 {
    let text = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
        let kb = line.split(separator: " ").dropFirst().first.flatMap({ UInt64($0) })
    else { throw HarnessError("no MemTotal in /proc/meminfo") }
    return kb * 1024
}

/// Runs `body` with a new cluster and stops every process it started (and closes its test
/// agents), however `body` ends: returns, throws (a failed `#require` too), fails an
/// expectation, or is cancelled. The shutdown is awaited, never left to a `Task` that may run
/// after the test (or not at all), and runs in a task of its own so that a cancelled test
/// still waits for its processes to exit instead of having every wait cut short.
func withCluster<T>(_ label: String, curve: Bool = false, _ body: (Cluster) async throws -> T) async throws -> T {
    let cluster = try Cluster(label, curve: curve)
    let result: Result<T, any Error>
    do {
        try await cluster.generateKeys()
        result = .success(try await body(cluster))
    } catch {
        result = .failure(error)
    }
    await Task { await cluster.shutdown() }.value
    return try result.get()
}

extension Cluster {
    /// A JSON request with a bearer token; any method.
    func call(_ method: String, _ url: String, token: String?, body: String? = nil) async throws -> (status: Int, body: Data) {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await HTTP.session.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    /// Makes a key with the bootstrap admin token (`POST /api/v1/tokens`); returns its id and secret.
    func makeKey(_ gateway: Gateway, role: String, name: String, tenant: String? = nil, maxAgents: Int? = nil, token: String? = nil) async throws -> (id: String, secret: String) {
        var fields = [#""role":"\#(role)""#, #""name":"\#(name)""#]
        if let tenant { fields.append(#""tenant":"\#(tenant)""#) }
        if let maxAgents { fields.append(#""maxAgents":\#(maxAgents)"#) }
        let (status, body) = try await call("POST", "\(gateway.http)/api/v1/tokens", token: token ?? adminToken, body: "{\(fields.joined(separator: ","))}")
        guard status == 201 else { throw HarnessError("POST tokens: HTTP \(status) \(String(decoding: body, as: UTF8.self))") }
        let key = try FleetJSON.decoder().decode(APIKeySummary.self, from: body)
        guard let secret = key.secret else { throw HarnessError("no secret in \(String(decoding: body, as: UTF8.self))") }
        return (key.id, secret)
    }

    /// Runs the operator CLI (`master ...`) against `master` with `token` (default: the
    /// bootstrap admin token); returns its exit status and output.
    func cli(_ master: Gateway, _ arguments: [String], token: String? = nil) async throws -> (status: Int32?, stdout: String, stderr: String) {
        try await run("master", arguments, environment: ["FLEET_URL": master.http, "FLEET_TOKEN": token ?? adminToken])
    }

    /// A gateway's `/metrics` text.
    func metricsText(_ gateway: Gateway) async throws -> String {
        let (status, body) = try await HTTP.get("\(gateway.http)/metrics")
        guard status == 200 else { throw HarnessError("GET /metrics: HTTP \(status)") }
        return String(decoding: body, as: UTF8.self)
    }
}

/// The value of the first sample of `family` whose labels contain every `label` (0 if none).
func metricValue(_ text: String, _ family: String, _ labels: [String] = []) -> Double {
    for line in text.split(separator: "\n") where line.hasPrefix(family) && !line.hasPrefix("#") {
        let name = line.prefix { $0 != "{" && $0 != " " }
        guard name == family, labels.allSatisfy({ line.contains($0) }) else { continue }
        return Double(line.split(separator: " ").last ?? "") ?? 0
    }
    return 0
}
