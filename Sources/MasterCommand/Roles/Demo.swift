import ArgumentParser
import Foundation
import Logging
import Spawn
import Synchronization

/// `master demo`: the zero-setup tour. Runs `master serve` on loopback with a data
/// directory of its own, starts one local `agent` (the binary built beside `master`)
/// connected to it, and prints where to look. Ctrl-C stops both.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a master (all roles, embedded defaults) and one local agent, and show where to look."
    )

    @Option(help: "HTTP port of the master (0 = any free port).")
    var port = 8080

    @Option(help: "Directory for the demo's data, logs and agent state.")
    var dataDir = ".fleet-demo"

    @Option(help: "Seconds between the agent's heartbeats.")
    var interval = 5.0

    func run() async throws {
        var config = MasterConfig()
        config.server.host = "127.0.0.1"
        config.server.port = port
        config.dataDir = "\(dataDir)/master"
        config.logging.level = "notice"
        try CommonOptions().bootstrapLogging(config, role: "master")

        let agentBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("agent").path
        guard FileManager.default.isExecutableFile(atPath: agentBinary) else {
            FileHandle.standardError.write(Data("master demo: no agent binary at \(agentBinary); run `swift build` first\n".utf8))
            throw ExitCode(1)
        }
        let logger = Logger(label: "demo")
        let agentToken = try TokenFiles.resolve(config, createMissing: true, logger: logger).agent.first ?? ""
        let adminTokenPath = TokenFiles.adminPath(config)
        let agent = Mutex<ChildProcess?>(nil)
        let dataDir = self.dataDir
        let interval = self.interval
        try await Serve.serve(config: config, readyFile: nil) { url in
            let ws = url.replacingOccurrences(of: "http://", with: "ws://") + "/ws"
            // The token goes through the environment, not argv, so `ps` does not show it.
            let environment = ProcessInfo.processInfo.environment.merging(["FLEET_AGENT_MASTER_TOKEN": agentToken]) { $1 }
            do {
                let process = try ChildProcess(
                    executable: agentBinary,
                    arguments: [
                        "run", "--set", "master.url=\(ws)", "--set", "metrics.interval=\(interval)",
                        "--set", "agent.state_dir=\(dataDir)/agent", "--set", "logging.dir=\(dataDir)/agent/logs",
                        "--set", "logging.level=notice",
                    ],
                    environment: environment
                )
                agent.withLock { $0 = process }
            } catch {
                FileHandle.standardError.write(Data("master demo: cannot start the agent: \(error)\n".utf8))
            }
            // Written straight to fd 1: print() buffers when stdout is not a terminal.
            FileHandle.standardOutput.write(Data("""

                Fleet demo is running: a master (gateway + registry + worker in one process) and one agent.

                  Dashboard:       \(url)/   (sign in with the admin token: cat \(adminTokenPath))
                  Admin token:     export TOKEN=$(cat \(adminTokenPath))
                  Agents (JSON):   curl -s -H "Authorization: Bearer $TOKEN" \(url)/api/v1/agents
                  One agent:       curl -s -H "Authorization: Bearer $TOKEN" \(url)/api/v1/agents/<id>
                  Readiness:       curl -s \(url)/readyz
                  Agent socket:    \(ws)
                  Logs:            \(dataDir)/master/logs/master.log, \(dataDir)/agent/logs/agent.log

                The agent reports every \(interval) s. Press Ctrl-C to stop both.

                """.utf8))
        }
        // The agent has a session of its own (so Ctrl-C on the terminal reaches only us): stop it.
        if let process = agent.withLock({ $0 }) {
            await process.stop(grace: .seconds(10))
        }
    }
}
