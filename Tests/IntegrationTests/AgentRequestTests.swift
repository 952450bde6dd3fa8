import FleetProtocol
import Foundation
import Testing

/// exec, config and restart requests answered by the real agent.
@Suite("Agent requests", .serialized)
struct AgentRequestTests {
    @Test("exec: allowed command lines run (argv, exit code, output), with timeout and output cap; others refused, agent stays connected")
    func exec() async throws {
        try await withCluster("exec") { cluster in
            let master = try await cluster.startServe()
            let config = cluster.directory.appendingPathComponent("exec.yaml")
            try """
                exec:
                  allow:
                    - /usr/bin/echo *
                    - /usr/bin/sleep 30
                    - /usr/bin/head -c 200000 /dev/zero
                    - '/bin/sh -c "echo oops >&2; exit 3"'
                  timeout: 5
                  max_output: 1000
                """.write(to: config, atomically: true, encoding: .utf8)
            let (_, id) = try await cluster.startAgent("agent", urls: [master.ws], extra: ["--config", config.path])
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.states(master)[id] == .online })

            let echo = try await cluster.finished(master, agent: id, kind: "exec", args: #"{"argv":["echo","hello; rm -rf /"]}"#)
            #expect(echo.state == .completed)
            #expect(echo.result?["exitCode"]?.numberValue == 0)
            #expect(echo.result?["stdout"]?.stringValue == "hello; rm -rf /\n", "argv, no shell: the ; is just text")

            let failing = try await cluster.finished(master, agent: id, kind: "exec", args: #"{"argv":["sh","-c","echo oops >&2; exit 3"]}"#)
            #expect(failing.result?["exitCode"]?.numberValue == 3)
            #expect(failing.result?["stderr"]?.stringValue == "oops\n")

            let slow = try await cluster.finished(master, agent: id, kind: "exec", args: #"{"argv":["sleep","30"],"timeout":1}"#)
            #expect(slow.state == .completed)
            #expect(slow.result?["timedOut"] == .bool(true))
            #expect(slow.result?["signal"]?.numberValue == 15, "SIGTERM to the process group (SIGKILL only if it lingers)")

            let loud = try await cluster.finished(master, agent: id, kind: "exec", args: #"{"argv":["head","-c","200000","/dev/zero"]}"#)
            #expect(loud.result?["truncated"] == .bool(true))
            #expect(loud.result?["stdout"]?.stringValue?.utf8.count == 1000)

            let refused = try await cluster.finished(master, agent: id, kind: "exec", args: #"{"argv":["cat","/etc/shadow"]}"#)
            #expect(refused.state == .failed)
            #expect(refused.error?.contains("not on this agent's exec.allow list") == true, "\(refused.error ?? "-")")
            let malformed = try await cluster.finished(master, agent: id, kind: "exec", args: #"{"argv":"echo hi"}"#)
            #expect(malformed.state == .failed)
            #expect(try await cluster.states(master)[id] == .online, "still connected after the refusals")
        }
    }

    @Test("config: applied live and persisted; restart: same pid, new session, settings kept")
    func configAndRestart() async throws {
        try await withCluster("config-restart") { cluster in
            let master = try await cluster.startServe()
            let (agent, id) = try await cluster.startAgent("agent", urls: [master.ws], extra: ["--set", "metrics.interval=30"])
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.states(master)[id] == .online })
            func seq() async throws -> UInt64 { try await cluster.agents(master).first { $0.id == id }?.metrics?.seq ?? 0 }

            let refused = try await cluster.finished(master, agent: id, kind: "config", args: #"{"master.url":"ws://evil/ws"}"#)
            #expect(refused.state == .failed)
            #expect(refused.error?.contains("cannot be changed at runtime") == true)

            // Heartbeats every 30 s -> every 0.3 s, without a restart.
            let changed = try await cluster.finished(master, agent: id, kind: "config", args: #"{"metrics.interval":0.3,"logging.level":"debug"}"#)
            #expect(changed.state == .completed, "\(changed.error ?? "")")
            // The 30 s sleep in progress ends first; then beats come quickly.
            let before = try await seq()
            #expect(await eventually(timeout: .seconds(40)) { try await seq() >= before + 5 }, "heartbeats follow the new interval")
            let persisted = try String(contentsOf: cluster.directory.appendingPathComponent("agent/state/runtime.json"), encoding: .utf8)
            #expect(persisted.contains("0.3") && persisted.contains("debug"), "\(persisted)")

            let connectedBefore = try await cluster.agents(master).first { $0.id == id }?.connectedAt
            let restart = try await cluster.finished(master, agent: id, kind: "restart")
            #expect(restart.state == .completed)
            #expect(await eventually(timeout: .seconds(15)) {
                let record = try await cluster.agents(master).first { $0.id == id }
                return record?.state == .online && record?.connectedAt != connectedBefore
            }, "\(agent.stderr.suffix(1500))")
            #expect(agent.isRunning, "re-executed in place: the same process")
            #expect(agent.stderr.components(separatedBy: "agent starting").count - 1 == 2, "started twice in one process")
            // The new process kept the runtime interval (fast beats continue; its sample counter
            // starts again, so count from what it reports now).
            let afterRestart = try await seq()
            #expect(await eventually(timeout: .seconds(10)) { try await seq() >= afterRestart + 5 })
        }
    }
}
