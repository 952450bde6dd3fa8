import AsyncHTTPClient
import FleetProtocol
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Spawn
import Synchronization
import Testing

/// docker/compose.yaml brought up with podman-compose under a project name of its own (plus
/// docker/test/compose.test.yaml, which publishes each gateway on loopback), driven from this
/// host through HAProxy's published port. Made by `docker/test/run`, which builds the images
/// first and passes where things are in the environment:
///
/// - `FLEET_IMAGE_TAG`: the tag of localhost/fleet-master, fleet-agent and fleet-haproxy;
/// - `FLEET_CONTAINER_BIN`: the release `master` and `bench` the host drives it with;
/// - `PODMAN_COMPOSE`: the podman-compose to run; `CONTAINERS_CONF`: podman's settings.
///
/// Use it only through ``withCompose(_:workers:_:)``, which always takes it down.
final class ComposeDeployment: Sendable {
    let project: String
    /// The test's own files: the operator's CA and admin token (`init` writes them), logs.
    let directory: URL
    /// HAProxy's published port: what agents, the CLI and the test use.
    let port: Int
    /// Each gateway's own published port (loopback), to ask every gateway what it shows.
    let gatewayPorts: [Int]
    let bin: String
    private let composeBinary: String
    private let environment: [String: String]
    private let client = Mutex<HTTPClient?>(nil)

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let podman = "/usr/bin/podman"

    init(label: String) throws {
        let environment = ProcessInfo.processInfo.environment
        guard let composeBinary = environment["PODMAN_COMPOSE"], let bin = environment["FLEET_CONTAINER_BIN"],
              let tag = environment["FLEET_IMAGE_TAG"] else {
            throw HarnessError("PODMAN_COMPOSE, FLEET_CONTAINER_BIN and FLEET_IMAGE_TAG are set by docker/test/run: run that")
        }
        self.composeBinary = composeBinary
        self.bin = bin
        project = "\(label)\(UUID().uuidString.prefix(6).lowercased())"
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-\(project)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("operator"), withIntermediateDirectories: true)
        let ports = try (0..<3).map { _ in try Self.freePort() }
        port = ports[0]
        gatewayPorts = Array(ports[1...])
        var env = environment.filter { !$0.key.hasPrefix("FLEET_") }
        env["FLEET_IMAGE_TAG"] = tag
        env["FLEET_PORT"] = String(port)
        env["FLEET_TEST_GATEWAY_1_PORT"] = String(gatewayPorts[0])
        env["FLEET_TEST_GATEWAY_2_PORT"] = String(gatewayPorts[1])
        env["FLEET_OPERATOR_DIR"] = directory.appendingPathComponent("operator").path
        // Demo agents beat every 5 s here, so "online" and "offline" show within the test.
        env["FLEET_AGENT_INTERVAL"] = "5"
        self.environment = env
    }

    var base: String { "https://localhost:\(port)" }
    func gatewayBase(_ index: Int) -> String { "https://localhost:\(gatewayPorts[index])" }
    var caFile: String { directory.appendingPathComponent("operator/ca.crt").path }
    var adminToken: String {
        get throws {
            try String(contentsOf: directory.appendingPathComponent("operator/admin-token"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// A container's name as podman-compose makes it.
    func container(_ service: String, _ replica: Int = 1) -> String { "\(project)_\(service)_\(replica)" }

    // MARK: Commands

    /// podman-compose with both files; throws with its output unless it exits 0.
    @discardableResult
    func compose(_ arguments: [String]) async throws -> String {
        let files = ["-f", "docker/compose.yaml", "-f", "docker/test/compose.test.yaml"]
        return try await Self.run(composeBinary, ["-p", project] + files + arguments, environment: environment, directory: Self.root.path)
    }

    @discardableResult
    func podman(_ arguments: [String]) async throws -> String {
        try await Self.run(Self.podman, arguments, environment: environment, directory: Self.root.path)
    }

    static func run(_ executable: String, _ arguments: [String], environment: [String: String], directory: String) async throws -> String {
        let result = try await ChildProcess.run(executable, arguments, environment: environment, directory: directory)
        guard result.termination == .exited(0) else {
            throw HarnessError("\(URL(fileURLWithPath: executable).lastPathComponent) \(arguments.joined(separator: " ")): \(result.termination)\n\(result.output.suffix(3000))")
        }
        return result.output
    }

    /// The operator CLI (the release `master`) against HAProxy, with the admin token in its
    /// environment (never on its command line).
    func cli(_ arguments: [String]) async throws -> (termination: ChildProcess.Termination, output: String) {
        var env = environment
        env["FLEET_URL"] = base
        env["FLEET_CA_FILE"] = caFile
        env["FLEET_TOKEN"] = try adminToken
        let result = try await ChildProcess.run("\(bin)/master", arguments, environment: env)
        return (result.termination, result.output)
    }

    /// The names of running containers of `service`.
    func running(_ service: String) async throws -> [String] {
        try await podman([
            "ps", "--filter", "label=com.docker.compose.project=\(project)", "--filter", "label=com.docker.compose.service=\(service)",
            "--format", "{{.Names}}",
        ]).split(separator: "\n").map(String.init).filter { !$0.isEmpty }.sorted()
    }

    func address(of container: String) async throws -> String {
        try await podman(["inspect", container, "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Every container, pod, volume and network of this project still there.
    func leftovers() async throws -> [String] {
        let label = "label=com.docker.compose.project=\(project)"
        let containers = try await podman(["ps", "-a", "--filter", label, "--format", "container {{.Names}}"])
        let volumes = try await podman(["volume", "ls", "--filter", label, "--format", "volume {{.Name}}"])
        let networks = try await podman(["network", "ls", "--format", "{{.Name}}"])
            .split(separator: "\n").filter { $0.hasPrefix(project) }.map { "network \($0)" }
        let pods = try await podman(["pod", "ls", "--format", "{{.Name}}"])
            .split(separator: "\n").filter { $0.contains(project) }.map { "pod \($0)" }
        return (containers + volumes).split(separator: "\n").map(String.init).filter { !$0.isEmpty } + networks + pods
    }

    /// `down -v --remove-orphans` (the orphans: replicas added with --scale, which podman-compose's
    /// down does not otherwise know of), then by label whatever that left, then what is left.
    func takeDown() async -> [String] {
        _ = try? await compose(["down", "-v", "--remove-orphans", "-t", "5"])
        if let left = try? await leftovers(), !left.isEmpty {
            _ = try? await compose(["down", "-v", "--remove-orphans", "-t", "5"])
        }
        let label = "label=com.docker.compose.project=\(project)"
        for line in (try? await leftovers()) ?? [] {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            switch parts.first {
            case "container": _ = try? await podman(["rm", "-f", "-t", "2", parts[1]])
            case "pod": _ = try? await podman(["pod", "rm", "-f", parts[1]])
            default: break
            }
        }
        _ = try? await podman(["volume", "prune", "-f", "--filter", label])
        for line in (try? await leftovers()) ?? [] where line.hasPrefix("network ") {
            _ = try? await podman(["network", "rm", "-f", String(line.dropFirst("network ".count))])
        }
        let client = self.client.withLock { taken in defer { taken = nil }; return taken }
        try? await client?.shutdown()
        do {
            return try await leftovers()
        } catch {
            return ["cannot list what is left: \(error)"]
        }
    }

    /// Every container's log, for a failure message.
    func logs() async -> String {
        var out = ""
        let names = (try? await podman(["ps", "-a", "--filter", "label=com.docker.compose.project=\(project)", "--format", "{{.Names}}"])) ?? ""
        for name in names.split(separator: "\n") {
            let log = (try? await podman(["logs", "--tail", "25", String(name)])) ?? "(no log)"
            out += "--- \(name)\n\(log.suffix(2500))\n"
        }
        return out
    }

    // MARK: The API, over TLS with the deployment's CA

    private func http() throws -> HTTPClient {
        try client.withLock { client in
            if let client { return client }
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            var configuration = HTTPClient.Configuration(tlsConfiguration: tls, timeout: .init(connect: .seconds(5)))
            configuration.connectionPool = .init(idleTimeout: .seconds(20), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
            let made = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            client = made
            return made
        }
    }

    func call(_ method: HTTPMethod, _ url: String, body: String? = nil, timeout: Int64 = 20) async throws -> (status: Int, body: Data) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(try adminToken)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await http().execute(request, timeout: .seconds(timeout))
        let data = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), Data(data.readableBytesView))
    }

    /// `GET /api/v1/agents` on `base` (HAProxy by default); throws on anything but 200.
    func agents(_ base: String? = nil) async throws -> [AgentRecord] {
        let (status, body) = try await call(.GET, "\(base ?? self.base)/api/v1/agents")
        guard status == 200 else { throw HarnessError("GET agents: HTTP \(status) \(String(decoding: body, as: UTF8.self))") }
        return try FleetJSON.decoder().decode(AgentListResponse.self, from: body).agents
    }

    /// A status callback through HAProxy: the request id once it is acknowledged (202), else
    /// the HTTP status (not acknowledged: nothing was promised).
    func statusCallback(_ agent: String) async throws -> Result<String, HTTPStatus> {
        let (status, body) = try await call(.POST, "\(base)/api/v1/agents/\(agent)/callbacks", body: #"{"kind":"status","args":{}}"#)
        guard status == 202 else { return .failure(HTTPStatus(code: status)) }
        return .success(try FleetJSON.decoder().decode(CallbackAccepted.self, from: body).requestId)
    }

    struct HTTPStatus: Error { let code: Int }

    /// The request as HAProxy's gateways know it: nil for 404; any other answer but 200 throws.
    func request(_ id: String, wait: Int = 0) async throws -> RequestRecord? {
        let (status, body) = try await call(.GET, "\(base)/api/v1/requests/\(id)?wait=\(wait)", timeout: Int64(wait + 20))
        if status == 404 { return nil }
        guard status == 200 else { throw HarnessError("GET request \(id): HTTP \(status) \(String(decoding: body, as: UTF8.self))") }
        return try FleetJSON.decoder().decode(RequestRecord.self, from: body)
    }

    /// A loopback port free now (podman publishes it; nothing here can hold it meanwhile).
    static func freePort() throws -> Int {
        let (fd, port) = try AlertTests().reservePort()
        close(fd)
        return port
    }
}

/// Runs `body` with the compose deployment up (`workers` replicas of worker) and takes it all
/// down however `body` ends; then requires that nothing of it is left.
func withCompose<T>(_ label: String, workers: Int, _ body: (ComposeDeployment) async throws -> T) async throws -> T {
    let deployment = try ComposeDeployment(label: label)
    let result: Result<T, any Error>
    do {
        try await deployment.compose(["up", "-d", "--scale", "worker=\(workers)"])
        result = .success(try await body(deployment))
    } catch {
        result = .failure(error)
    }
    // Every container's log tail, kept for a look after a failure (the containers are gone).
    let logFile = ComposeDeployment.root.appendingPathComponent(".build-containers/logs/\(deployment.project).log")
    try? FileManager.default.createDirectory(at: logFile.deletingLastPathComponent(), withIntermediateDirectories: true)
    try? Data(await deployment.logs().utf8).write(to: logFile)
    print("containers: logs of \(deployment.project) in \(logFile.path)")
    let left = await Task { await deployment.takeDown() }.value
    #expect(left.isEmpty, "left behind after the test: \(left)")
    try? FileManager.default.removeItem(at: deployment.directory)
    return try result.get()
}
