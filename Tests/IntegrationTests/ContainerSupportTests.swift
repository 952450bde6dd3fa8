import FleetProtocol
import Foundation
import Testing

/// What the container images and manifests rely on, checked on plain processes: `master probe`
/// (the images' HEALTHCHECK), /healthz and /readyz on a registry's and a worker's
/// `metrics.listen` (Kubernetes probes), tokens read from mounted files, and logs to stderr only.
@Suite("Container support")
struct ContainerSupportTests {
    @Test("master probe: exit 0 for the configured role's /readyz (derived from the same settings), 1 with the reason when nothing answers")
    func probe() async throws {
        try await withCluster("probe") { cluster in
            let master = try await cluster.startServe()
            let ok = try await cluster.run("master", ["probe", "--set", "server.port=\(master.port)"])
            #expect(ok.status == 0, "\(ok.stderr)")
            let (reservation, closed) = try AlertTests().reservePort()
            defer { close(reservation) }
            let refused = try await cluster.run("master", ["probe", "--set", "server.port=\(closed)"])
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("http://127.0.0.1:\(closed)/readyz"), "\(refused.stderr)")
            let printed = try await cluster.run("master", ["probe", "--url", "\(master.http)/metrics", "--print"])
            #expect(printed.status == 0 && printed.stdout.contains("fleet_gateway_sessions"), "\(printed.stderr)")
        }
    }

    @Test("a registry and a worker alone answer /healthz and /readyz on metrics.listen with their role, and probe finds them there")
    func metricsListenerHealth() async throws {
        try await withCluster("listener-health") { cluster in
            let bus = try await cluster.startRegistry(["--set", "metrics.listen=127.0.0.1:0"])
            let registry = try #require(cluster.process(named: "registry"))
            let registryMetrics = try #require(try await cluster.ready(registry, file: "registry.json").metrics)
            let worker = try cluster.start(
                "worker", "master", ["worker", "--ready-file", "worker.json", "--set", "data_dir=worker", "--set", "metrics.listen=127.0.0.1:0"] + Cluster.busArguments(bus)
            )
            let workerMetrics = try #require(try await cluster.ready(worker, file: "worker.json").metrics)
            for (role, metrics) in [("registry", registryMetrics), ("worker", workerMetrics)] {
                let base = String(metrics.dropLast("/metrics".count))
                for path in ["/healthz", "/readyz"] {
                    let (status, body) = try await HTTP.get(base + path)
                    #expect(status == 200 && String(decoding: body, as: UTF8.self).contains(#""role":"\#(role)""#), "\(role)\(path): \(status)")
                }
                let port = try #require(URL(string: metrics)?.port)
                let probe = try await cluster.run("master", ["probe", "--set", "metrics.listen=127.0.0.1:\(port)"])
                #expect(probe.status == 0, "\(role): \(probe.stderr)")
            }
        }
    }

    @Test("a gateway reads its tokens from auth.agent_token_file and auth.admin_token_file (mounted secrets); agents and admin calls work with them")
    func tokenFiles() async throws {
        try await withCluster("token-files") { cluster in
            let bus = try await cluster.startRegistry()
            let secrets = cluster.directory.appendingPathComponent("secrets")
            try FileManager.default.createDirectory(at: secrets, withIntermediateDirectories: true)
            try "\(cluster.agentToken)\n".write(to: secrets.appendingPathComponent("agent-token"), atomically: true, encoding: .utf8)
            try "\(cluster.adminToken)\n".write(to: secrets.appendingPathComponent("admin-token"), atomically: true, encoding: .utf8)
            let process = try cluster.start("gateway", "master", [
                "gateway", "--ready-file", "gateway.json", "--set", "data_dir=gateway", "--set", "server.host=127.0.0.1", "--set", "server.port=0",
                "--set", "auth.agent_token_file=\(secrets.appendingPathComponent("agent-token").path)",
                "--set", "auth.admin_token_file=\(secrets.appendingPathComponent("admin-token").path)",
            ] + Cluster.busArguments(bus))
            let gateway = try Cluster.gateway(process, try await cluster.ready(process, file: "gateway.json"))
            try await cluster.waitForSync(gateway, name: "gateway")
            let (_, id) = try await cluster.startAgent("agent", urls: [gateway.ws])
            #expect(await eventually(timeout: .seconds(15)) { try await cluster.states(gateway)[id] == .online })
            let (wrong, _) = try await HTTP.get("\(gateway.http)/api/v1/agents", token: "not-the-token")
            #expect(wrong == 401)

            // A gateway given a token file that is not there refuses to start, naming it.
            let missing = try await cluster.run("master", [
                "gateway", "--set", "data_dir=gateway-2", "--set", "server.port=0",
                "--set", "auth.agent_token_file=\(secrets.appendingPathComponent("nope").path)",
            ] + Cluster.busArguments(bus) + ["--set", "auth.admin_token=\(cluster.adminToken)"])
            #expect(missing.status == 2 && missing.stderr.contains("nope"), "\(missing.stderr)")
        }
    }

    @Test("logging.file: stderr logs to stderr only, with no log file in the data directory")
    func stderrOnly() async throws {
        try await withCluster("stderr-log") { cluster in
            let master = try await cluster.startServe(["--set", "logging.file=stderr"])
            #expect(master.process.stderr.contains("gateway listening"))
            let logs = cluster.directory.appendingPathComponent("serve/logs")
            // No logs directory at all, or an empty one; a directory that cannot be listed fails.
            if FileManager.default.fileExists(atPath: logs.path) {
                let files = try FileManager.default.contentsOfDirectory(atPath: logs.path)
                #expect(files.isEmpty, "\(files)")
            }
        }
    }
}
