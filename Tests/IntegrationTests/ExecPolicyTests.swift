import FleetProtocol
import Foundation
import Testing

/// `exec.allow` as argv patterns, the child's containment (environment, fds, cwd, user) and
/// its process group's end, with the real agent answering real requests.
@Suite("Exec policy (real agent)", .serialized)
struct ExecPolicyIntegrationTests {
    /// Runs `body` with `master serve` and one agent with `yaml` as its config file (the agent
    /// token also in its environment, as an operator would pass it), once it is online; both
    /// are stopped however `body` ends.
    func withAgent(
        _ label: String, yaml: String, _ body: (Cluster, Cluster.Gateway, FleetProcess, String) async throws -> Void
    ) async throws {
        try await withCluster(label) { cluster in
            let master = try await cluster.startServe()
            let file = cluster.directory.appendingPathComponent("agent.yaml")
            try yaml.write(to: file, atomically: true, encoding: .utf8)
            let (agent, id) = try await cluster.startAgent(
                "agent", urls: [master.ws], extra: ["--config", file.path],
                environment: ["FLEET_AGENT_MASTER_TOKEN": cluster.agentToken]
            )
            guard await eventually(timeout: .seconds(15), { try await cluster.states(master)[id] == .online }) else {
                throw HarnessError("agent not online:\n\(cluster.logs())")
            }
            try await body(cluster, master, agent, id)
        }
    }

    /// A process's state letter from /proc (`R`, `S`, `Z`, …), nil when it is gone.
    static func processState(_ pid: Int32) -> Character? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        return stat[stat.index(after: close)...].first { !$0.isWhitespace }
    }

    /// Gone, or a zombie waiting for whichever process reaps orphans here: either way, dead.
    static func isDead(_ pid: Int32) -> Bool {
        guard let state = processState(pid) else { return true }
        return state == "Z" || state == "X"
    }

    static func pid(after marker: String, in text: String) -> Int32? {
        guard let range = text.range(of: marker + " ") else { return nil }
        return Int32(text[range.upperBound...].prefix { $0.isNumber })
    }

    @Test("/usr/bin/systemctl status * allows `systemctl status ssh` (it runs) and refuses `systemctl stop ssh`; the master cannot widen the list")
    func argvPatterns() async throws {
        try await withAgent("exec-patterns", yaml: """
            exec:
              allow:
                - /usr/bin/systemctl status *
                - /usr/bin/echo 'two words' [ab]?
              timeout: 10
            """) { cluster, master, _, id in
            // Runs: no systemd here, so systemctl itself fails, but it was executed, not refused.
            let status = try await cluster.finished(master, agent: id, kind: "exec", args: #"{"argv":["systemctl","status","ssh"]}"#)
            #expect(status.state == .completed, "\(status.error ?? "")")
            #expect(status.result?["timedOut"] == .bool(false))
            let code = status.result?["exitCode"]?.numberValue
            #expect(code != nil && code != 0, "systemctl ran and failed on its own: \(status.result.map { "\($0)" } ?? "-")")
            let complaint = status.result?["stderr"]?.stringValue ?? ""
            #expect(!complaint.isEmpty, "systemctl's own complaint")
            if (try? FileManager.default.destinationOfSymbolicLink(atPath: "/bin")) == "usr/bin" {
                let viaBin = try await cluster.finished(master, agent: id, kind: "exec", args: #"{"argv":["/bin/systemctl","status","cron"]}"#)
                #expect(viaBin.state == .completed, "merged /usr: /bin/systemctl is /usr/bin/systemctl: \(viaBin.error ?? "")")
            }

            let stop = try await cluster.finished(master, agent: id, kind: "exec", args: #"{"argv":["systemctl","stop","ssh"]}"#)
            #expect(stop.state == .failed)
            #expect(stop.error?.contains("refused") == true && stop.error?.contains("matches none of this agent's exec.allow patterns") == true, "\(stop.error ?? "-")")
            for argv in [#"["systemctl","status"]"#, #"["systemctl","status","ssh","cron"]"#, #"["cat","/etc/shadow"]"#, #"["./systemctl","status","ssh"]"#] {
                let refused = try await cluster.finished(master, agent: id, kind: "exec", args: "{\"argv\":\(argv)}")
                #expect(refused.state == .failed && refused.error?.contains("refused") == true, "\(argv): \(refused.error ?? "not refused")")
            }

            // Quoting in the entry: one argument with a space; a class and a ? after it.
            let echo = try await cluster.finished(master, agent: id, kind: "exec", args: #"{"argv":["echo","two words","bx"]}"#)
            #expect(echo.result?["stdout"]?.stringValue == "two words bx\n", "\(echo.error ?? "")")
            let split = try await cluster.finished(master, agent: id, kind: "exec", args: #"{"argv":["echo","two","words","bx"]}"#)
            #expect(split.state == .failed)

            // The master can never change exec.*: refused, and the list is what it was.
            for change in [#"{"exec.allow":["/bin/sh -c *"]}"#, #"{"exec.user":"root"}"#, #"{"exec.timeout":3600}"#] {
                let config = try await cluster.finished(master, agent: id, kind: "config", args: change)
                #expect(config.state == .failed && config.error?.contains("cannot be changed at runtime") == true, "\(change): \(config.error ?? "applied")")
            }
            let shell = try await cluster.finished(master, agent: id, kind: "exec", args: #"{"argv":["sh","-c","id"]}"#)
            #expect(shell.state == .failed && shell.error?.contains("not on this agent's exec.allow list") == true, "\(shell.error ?? "ran")")
            #expect(try await cluster.states(master)[id] == .online)
        }
    }

    @Test("the child gets a fixed environment (no FLEET_* from the agent's), stdin /dev/null, cwd /, no inherited fds")
    func containment() async throws {
        try await withAgent("exec-env", yaml: """
            exec:
              allow:
                - /usr/bin/env
                - /usr/bin/pwd
                - /usr/bin/readlink /proc/self/fd/0
                - /usr/bin/ls /proc/self/fd
            """) { cluster, master, agent, id in
            // The setup is meaningful: the agent itself holds the secret in its environment.
            let agentEnvironment = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(agent.pid)/environ"))
            #expect(String(decoding: agentEnvironment, as: UTF8.self).contains("FLEET_AGENT_MASTER_TOKEN=\(cluster.agentToken)"))

            let env = try await cluster.finished(master, agent: id, kind: "exec", args: #"{"argv":["env"]}"#)
            #expect(env.state == .completed, "\(env.error ?? "")")
            let lines = Set((env.result?["stdout"]?.stringValue ?? "").split(separator: "\n").map(String.init))
            #expect(!lines.contains { $0.hasPrefix("FLEET_") }, "\(lines)")
            let home = geteuid() == 0 ? "/root" : (ProcessInfo.processInfo.environment["HOME"] ?? "/")
            #expect(lines == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=\(home)"], "\(lines)")

            let pwd = try await cluster.finished(master, agent: id, kind: "exec", args: #"{"argv":["pwd"]}"#)
            #expect(pwd.result?["stdout"]?.stringValue == "/\n", "\(pwd.error ?? "")")
            let stdin = try await cluster.finished(master, agent: id, kind: "exec", args: #"{"argv":["readlink","/proc/self/fd/0"]}"#)
            #expect(stdin.result?["stdout"]?.stringValue == "/dev/null\n", "\(stdin.error ?? "")")
            // 0-2, and the directory ls itself opened to list: nothing of the agent's sockets or logs.
            let fds = try await cluster.finished(master, agent: id, kind: "exec", args: #"{"argv":["ls","/proc/self/fd"]}"#)
            #expect(fds.result?["stdout"]?.stringValue == "0\n1\n2\n3\n", "\(fds.result.map { "\($0)" } ?? fds.error ?? "")")
        }
    }

    @Test("at the timeout the whole process group is killed, a sleeping grandchild included, and the agent answers; leftovers of a command that exited are killed too")
    func processGroupKilled() async throws {
        let scripts = FileManager.default.temporaryDirectory.appendingPathComponent("exec-scripts-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scripts, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scripts) }
        func script(_ name: String, _ body: String) throws -> String {
            let path = scripts.appendingPathComponent(name).path
            try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
            return path
        }
        // The grandchild inherits stdout (the agent's pipe) and outlives its parent's wait.
        let hangs = try script("hangs", "sleep 600 &\necho \"grandchild $!\"\nsleep 600")
        // Leaves a child behind holding stdout and exits at once.
        let leaves = try script("leaves", "sleep 600 &\necho \"leftover $!\"\nexit 0")
        // Escapes the group (its own session) and holds stdout: the agent must not wait for it.
        let escapes = try script("escapes", "setsid sleep 600 &\necho \"daemon $!\"\nsleep 600")

        try await withAgent("exec-group", yaml: """
            exec:
              allow: [\(hangs), \(leaves), \(escapes)]
              timeout: 2
            """) { cluster, master, _, id in
            var strays: [Int32] = []
            defer { for pid in strays { kill(pid, SIGKILL) } }

            var started = ContinuousClock.now
            let hung = try await cluster.finished(master, agent: id, kind: "exec", args: "{\"argv\":[\"\(hangs)\"]}")
            let hungTook = ContinuousClock.now - started
            #expect(hung.state == .completed, "\(hung.error ?? "")")
            #expect(hung.result?["timedOut"] == .bool(true))
            #expect(hung.result?["signal"]?.numberValue == Double(SIGTERM), "sh dies of the SIGTERM to its group")
            #expect(hungTook < .seconds(2 + 4), "answered within the timeout and the kill grace: \(hungTook)")
            let grandchild = Self.pid(after: "grandchild", in: hung.result?["stdout"]?.stringValue ?? "")
            #expect(grandchild != nil, "\(hung.result.map { "\($0)" } ?? "-")")
            if let grandchild {
                strays.append(grandchild)
                #expect(await eventually(timeout: .seconds(2)) { Self.isDead(grandchild) }, "grandchild \(grandchild) still \(Self.processState(grandchild).map(String.init) ?? "?")")
            }

            started = ContinuousClock.now
            let left = try await cluster.finished(master, agent: id, kind: "exec", args: "{\"argv\":[\"\(leaves)\"]}")
            #expect(left.state == .completed && left.result?["exitCode"]?.numberValue == 0, "\(left.error ?? "")")
            #expect(left.result?["timedOut"] == .bool(false))
            #expect(ContinuousClock.now - started < .seconds(2), "no wait for the timeout: the command exited")
            if let leftover = Self.pid(after: "leftover", in: left.result?["stdout"]?.stringValue ?? "") {
                strays.append(leftover)
                #expect(await eventually(timeout: .seconds(2)) { Self.isDead(leftover) }, "leftover \(leftover) still running")
            } else {
                Issue.record("no leftover pid: \(left.result.map { "\($0)" } ?? "-")")
            }

            started = ContinuousClock.now
            let escaped = try await cluster.finished(master, agent: id, kind: "exec", args: "{\"argv\":[\"\(escapes)\"]}")
            let escapedTook = ContinuousClock.now - started
            #expect(escaped.state == .completed && escaped.result?["timedOut"] == .bool(true), "\(escaped.error ?? "")")
            #expect(escapedTook < .seconds(2 + 5), "a process outside the group holding the pipes does not hold the answer: \(escapedTook)")
            if let daemon = Self.pid(after: "daemon", in: escaped.result?["stdout"]?.stringValue ?? "") {
                strays.append(daemon)
                #expect(!Self.isDead(daemon), "outside the group, so not the agent's to kill (this test kills it)")
            } else {
                Issue.record("no daemon pid: \(escaped.result.map { "\($0)" } ?? "-")")
            }
            #expect(try await cluster.states(master)[id] == .online)
        }
    }

    @Test("exec.user: the child runs as that user (the agent is root), or a non-root agent refuses to start")
    func runAsUser() async throws {
        let yaml = """
            exec:
              allow: [/usr/bin/id -u, /usr/bin/id -G, /usr/bin/env]
              user: nobody
            """
        guard geteuid() == 0 else {
            try await withCluster("exec-user-refused") { cluster in
                try yaml.write(to: cluster.directory.appendingPathComponent("agent.yaml"), atomically: true, encoding: .utf8)
                let process = try cluster.start("agent", "agent", ["run", "--config", "agent.yaml", "--set", "agent.state_dir=state"])
                #expect(await process.waitForExit(timeout: .seconds(20)) == 2)
                #expect(process.stderr.contains("exec.user") && process.stderr.contains("root"), "\(process.stderr)")
            }
            return
        }
        try await withAgent("exec-user", yaml: yaml) { cluster, master, _, id in
            let uid = try await cluster.finished(master, agent: id, kind: "exec", args: #"{"argv":["id","-u"]}"#)
            #expect(uid.result?["stdout"]?.stringValue == "65534\n", "\(uid.result.map { "\($0)" } ?? uid.error ?? "")")
            let groups = try await cluster.finished(master, agent: id, kind: "exec", args: #"{"argv":["id","-G"]}"#)
            let gids = (groups.result?["stdout"]?.stringValue ?? "").split(whereSeparator: \.isWhitespace)
            #expect(!gids.contains("0"), "root's groups dropped: \(gids)")
            let env = try await cluster.finished(master, agent: id, kind: "exec", args: #"{"argv":["env"]}"#)
            #expect(env.result?["stdout"]?.stringValue?.contains("HOME=/nonexistent\n") == true, "nobody's home: \(env.result.map { "\($0)" } ?? "-")")
        }
    }

    @Test("an exec.allow entry that is not an absolute path stops the agent at start (exit 2) naming the entry")
    func relativeEntryIsAConfigError() async throws {
        try await withCluster("exec-config") { cluster in
            let process = try cluster.start("agent", "agent", [
                "run", "--set", "agent.state_dir=state", "--set", "exec.allow=[/usr/bin/uptime, systemctl status]",
            ])
            #expect(await process.waitForExit(timeout: .seconds(20)) == 2)
            #expect(process.stderr.contains("exec.allow") && process.stderr.contains("'systemctl status'") && process.stderr.contains("not an absolute path"), "\(process.stderr)")
        }
    }

    @Test("the agent warns at start about entries that can spawn arbitrary programs")
    func warnsAboutSpawners() async throws {
        try await withAgent("exec-warn", yaml: """
            exec:
              allow: ["/bin/sh -c *", /usr/bin/env, /usr/bin/uptime]
            """) { cluster, _, agent, _ in
            let log = agent.stderr
            #expect(log.contains("'/bin/sh -c *' can spawn arbitrary programs"), "\(log.suffix(2000))")
            #expect(log.contains("'/usr/bin/env' can spawn arbitrary programs"))
            #expect(!log.contains("'/usr/bin/uptime' can spawn"))
        }
    }
}
