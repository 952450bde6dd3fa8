import FleetProtocol
import Foundation
import Testing

/// The operator CLI (`master agents|status|logs|exec|config|requests`) against a live master.
@Suite("CLI", .serialized)
struct CLITests {
    func cli(_ cluster: Cluster, _ master: Cluster.Gateway, _ arguments: [String], token: String? = nil) async throws -> (status: Int32?, stdout: String, stderr: String) {
        try await cluster.cli(master, arguments, token: token)
    }

    @Test("--json output parses; exit codes: 0 ok, 1 failed request or command, 3 not found, 4 bad token")
    func cliAgainstLiveMaster() async throws {
        try await withCluster("cli") { cluster in
            let master = try await cluster.startServe()
            let (_, id) = try await cluster.startAgent("agent", urls: [master.ws], extra: ["--set", #"exec.allow=["/bin/sh -c *"]"#])
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.states(master)[id] == .online })
            try "line one\nline two\n".write(to: cluster.directory.appendingPathComponent("agent/logs/app.log"), atomically: true, encoding: .utf8)

            let list = try await cli(cluster, master, ["agents", "list", "--json"])
            #expect(list.status == 0, "\(list.stderr)")
            let agents = try FleetJSON.decode(AgentListResponse.self, from: list.stdout)
            #expect(agents.agents.map(\.id) == [id])

            let table = try await cli(cluster, master, ["agents"])
            #expect(table.stdout.contains("STATE") && table.stdout.contains(id) && table.stdout.contains("online"))

            let status = try await cli(cluster, master, ["status", id, "--json"])
            #expect(status.status == 0)
            let record = try FleetJSON.decode(RequestRecord.self, from: status.stdout)
            #expect(record.state == .completed && record.result?["memory"] != nil)

            let exec = try await cli(cluster, master, ["exec", id, "--", "sh", "-c", "echo out; echo err >&2; exit 7"])
            #expect(exec.status == 7, "the command's own exit code")
            #expect(exec.stdout == "out\n" && exec.stderr.contains("err"))
            let refused = try await cli(cluster, master, ["exec", id, "--", "cat", "/etc/passwd"])
            #expect(refused.status == 1 && refused.stderr.contains("exec.allow"))

            let output = cluster.directory.appendingPathComponent("fetched.log").path
            let logs = try await cli(cluster, master, ["logs", id, "app.log", "-o", output])
            #expect(logs.status == 0, "\(logs.stderr)")
            #expect(try String(contentsOfFile: output, encoding: .utf8) == "line one\nline two\n")

            let config = try await cli(cluster, master, ["config", id, "--set", "logging.level=debug", "--json"])
            #expect(config.status == 0)
            #expect(try FleetJSON.decode(RequestRecord.self, from: config.stdout).result?["current"]?["logging.level"]?.stringValue == "debug")

            let shown = try await cli(cluster, master, ["requests", "show", record.id, "--json"])
            #expect(try FleetJSON.decode(RequestRecord.self, from: shown.stdout).id == record.id)

            #expect(try await cli(cluster, master, ["agents", "show", "nobody"]).status == 3)
            let denied = try await cli(cluster, master, ["agents"], token: "wrong")
            #expect(denied.status == 4 && denied.stderr.contains("401"))
        }
    }
}
