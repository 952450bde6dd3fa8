import AgentCore
import FleetProtocol
import FleetSupport
import Foundation
import Testing

/// `exec.allow` as argv patterns: parsing, matching, resolution of bare names, warnings.
@Suite("Exec policy")
struct ExecPolicyTests {
    func policy(_ allow: [String], user: String = "") throws -> ExecPolicy {
        try ExecPolicy(allow: allow, user: user)
    }

    @Test("wildcards match one argument each: * ? [...]; / and leading dots are not special")
    func wildcards() throws {
        let pattern = try ExecPattern(parsing: "/usr/bin/systemctl status *")
        #expect(pattern.program == "/usr/bin/systemctl")
        #expect(pattern.matches(arguments: ["status", "ssh"]))
        #expect(pattern.matches(arguments: ["status", "ssh.service"]))
        #expect(pattern.matches(arguments: ["status", ""]), "* matches the empty argument")
        #expect(!pattern.matches(arguments: ["stop", "ssh"]))
        #expect(!pattern.matches(arguments: ["status"]), "one pattern per argument: * is not optional")
        #expect(!pattern.matches(arguments: ["status", "ssh", "cron"]), "* is one argument, never the rest")
        #expect(!pattern.matches(arguments: ["Status", "ssh"]))

        let classes = try ExecPattern(parsing: "/usr/bin/df -[hT] /dev/sd? *")
        #expect(classes.matches(arguments: ["-h", "/dev/sda", "x"]))
        #expect(classes.matches(arguments: ["-T", "/dev/sdb", "x"]))
        #expect(!classes.matches(arguments: ["-i", "/dev/sda", "x"]))
        #expect(!classes.matches(arguments: ["-h", "/dev/sda1", "x"]), "? is exactly one character")

        let paths = try ExecPattern(parsing: "/usr/bin/tail -n 50 /var/log/*")
        #expect(paths.matches(arguments: ["-n", "50", "/var/log/app/current"]), "fnmatch without FNM_PATHNAME: * crosses /")
        #expect(paths.matches(arguments: ["-n", "50", "/var/log/.hidden"]), "no FNM_PERIOD")
        #expect(!paths.matches(arguments: ["-n", "50", "/etc/shadow"]))
        #expect(paths.matches(arguments: ["-n", "50", "/var/log/../../etc/shadow"]),
                "arguments are strings, not paths: a pattern over paths does not confine them (documented)")
    }

    @Test("a bare entry allows the program with no arguments only")
    func bareEntry() throws {
        let pattern = try ExecPattern(parsing: "/usr/bin/uptime")
        #expect(pattern.arguments.isEmpty)
        #expect(pattern.matches(arguments: []))
        #expect(!pattern.matches(arguments: ["-p"]))
        #expect(!pattern.matches(arguments: [""]))
    }

    @Test("quoting: '...' and \"...\" keep spaces and make wildcards literal; backslash escapes")
    func quoting() throws {
        let spaced = try ExecPattern(parsing: #"/usr/bin/journalctl -u ssh --since "1 hour ago""#)
        #expect(spaced.arguments.count == 4)
        #expect(spaced.matches(arguments: ["-u", "ssh", "--since", "1 hour ago"]))
        #expect(!spaced.matches(arguments: ["-u", "ssh", "--since", "1", "hour", "ago"]))

        let literalStar = try ExecPattern(parsing: "/bin/echo '*' \"a?\" \\[x] b*")
        #expect(literalStar.matches(arguments: ["*", "a?", "[x]", "b-anything"]))
        #expect(!literalStar.matches(arguments: ["anything", "a?", "[x]", "b"]), "a quoted * is the character *")
        #expect(!literalStar.matches(arguments: ["*", "ab", "[x]", "b"]), "a quoted ? is the character ?")
        #expect(!literalStar.matches(arguments: ["*", "a?", "x", "b"]), "an escaped [ is the character [")

        let mixed = try ExecPattern(parsing: #"/bin/echo pre'fix *'* "say \"hi\"" 'it'\''s' '' "a\\b""#)
        #expect(mixed.matches(arguments: ["prefix *tail", #"say "hi""#, "it's", "", #"a\b"#]))
        #expect(!mixed.matches(arguments: ["prefix tail", #"say "hi""#, "it's", "", #"a\b"#]))
        #expect(!mixed.matches(arguments: ["prefix *tail", #"say "hi""#, "it's", "x", #"a\b"#]), "'' is an empty argument, not nothing")

        let tabs = try ExecPattern(parsing: "  /usr/bin/uptime\t -p  ")
        #expect(tabs.program == "/usr/bin/uptime" && tabs.matches(arguments: ["-p"]))

        let quotedProgram = try ExecPattern(parsing: "'/opt/my tools/run' now")
        #expect(quotedProgram.program == "/opt/my tools/run")
        #expect(quotedProgram.matches(arguments: ["now"]))

        let operators = try ExecPattern(parsing: "/bin/echo ; | && $HOME `x`")
        #expect(operators.matches(arguments: [";", "|", "&&", "$HOME", "`x`"]), "no shell: operators and variables are plain text")
    }

    @Test("bad entries are errors that name the entry: relative paths, unterminated quotes, wildcards in the program, empty")
    func invalidEntries() {
        func reason(_ entry: String) -> String? {
            do {
                _ = try ExecPattern(parsing: entry)
                return nil
            } catch {
                return error.description
            }
        }
        let relative = reason("systemctl status *")
        #expect(relative?.contains("'systemctl status *'") == true && relative?.contains("not an absolute path") == true, "\(relative ?? "accepted")")
        #expect(relative?.contains("/usr/bin/systemctl") == true || relative?.contains("/bin/systemctl") == true,
                "suggests where the program is: \(relative ?? "-")")
        #expect(reason("./run.sh")?.contains("not an absolute path") == true)
        #expect(reason("bin/run")?.contains("not an absolute path") == true)
        #expect(reason("/bin/echo 'open")?.contains("unterminated single quote") == true)
        #expect(reason("/bin/echo \"open")?.contains("unterminated double quote") == true)
        #expect(reason("/bin/echo trailing\\")?.contains("backslash") == true)
        #expect(reason("/usr/bin/*")?.contains("exact path") == true)
        #expect(reason("/usr/bin/python? -V")?.contains("exact path") == true)
        #expect(reason("")?.contains("empty") == true)
        #expect(reason("   ")?.contains("empty") == true)
    }

    @Test("a relative entry is a ConfigError on exec.allow (exit 2 through validate())")
    func configErrors() throws {
        let error = #expect(throws: ConfigError.self) { try self.policy(["/usr/bin/uptime", "uptime"]) }
        #expect(error?.key == "exec.allow")
        #expect(error?.description.contains("'uptime'") == true, "\(error.map { "\($0)" } ?? "-")")
        var config = AgentConfig()
        config.exec.allow = ["df -h"]
        #expect(throws: ConfigError.self) { try config.validate() }
        config.exec.allow = ["/usr/bin/df -h"]
        try config.validate()
        config.exec.user = "no-such-user-\(UUID().uuidString.prefix(6))"
        #expect(throws: ConfigError.self) { try config.validate() }
    }

    @Test("bare names resolve through the fixed PATH only; both sides compared by realpath; the entry's path runs")
    func resolution() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("exec-policy-\(UUID().uuidString.prefix(8))")
        let bin = directory.appendingPathComponent("bin")
        let other = directory.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let tool = bin.appendingPathComponent("tool").path
        try "#!/bin/sh\n".write(toFile: tool, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: tool)
        // A second name for the same file (as /bin -> /usr/bin on merged-/usr systems).
        let alias = other.appendingPathComponent("tool").path
        try FileManager.default.createSymbolicLink(atPath: alias, withDestinationPath: tool)
        let notExecutable = other.appendingPathComponent("plain").path
        try "data".write(toFile: notExecutable, atomically: true, encoding: .utf8)

        let policy = try self.policy(["\(alias) run *"])
        let search = "\(bin.path):/usr/bin"
        let byName = try policy.authorize(["tool", "run", "x"], searchPath: search)
        #expect(byName.program == alias, "the entry's path is executed, not the one found")
        #expect(byName.argv == [alias, "run", "x"], "argv[0] is the entry's path")
        #expect(try policy.authorize([tool, "run", "y"]).program == alias, "another path to the same file matches")
        #expect(throws: CommandRunner.Refusal.self) { try policy.authorize(["tool", "run", "x"], searchPath: other.path + "/missing") }
        #expect(throws: CommandRunner.Refusal.self) { try policy.authorize(["tool", "stop", "x"], searchPath: search) }
        #expect(throws: CommandRunner.Refusal.self) { try policy.authorize(["tool", "run"], searchPath: search) }
        #expect(ProgramSearch.resolve("plain", searchPath: other.path) == nil, "not executable")
        #expect(ProgramSearch.resolve("tool", searchPath: "relative/dir:\(bin.path)") == tool, "relative PATH entries are skipped")
        #expect(ProgramSearch.resolve("../bin/tool", searchPath: bin.path) == nil, "a name with / is not searched")

        // The default search path is the fixed one, whatever the agent's PATH says.
        let real = try self.policy(["/usr/bin/systemctl status *"])
        #expect(try real.authorize(["systemctl", "status", "ssh"]).argv == ["/usr/bin/systemctl", "status", "ssh"])
        if ProgramSearch.realPath("/bin") == "/usr/bin" {
            #expect(try real.authorize(["/bin/systemctl", "status", "ssh"]).program == "/usr/bin/systemctl", "merged /usr")
        }
        #expect(ProgramSearch.cleanPath == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    }

    @Test("refusals say why: not listed, arguments not matching, relative argv[0], NUL bytes, exec off")
    func refusals() throws {
        let policy = try self.policy(["/usr/bin/systemctl status *"])
        func refusal(_ argv: [String], _ policy: ExecPolicy) -> String {
            do {
                _ = try policy.authorize(argv)
                return "allowed"
            } catch {
                return error.description
            }
        }
        #expect(refusal(["cat", "/etc/shadow"], policy).contains("not on this agent's exec.allow list"))
        let stop = refusal(["systemctl", "stop", "ssh"], policy)
        #expect(stop.contains("matches none of this agent's exec.allow patterns"), "\(stop)")
        #expect(stop.contains("systemctl stop ssh"), "\(stop)")
        #expect(refusal(["./systemctl", "status", "x"], policy).contains("relative path"))
        #expect(refusal(["systemctl", "status", "ssh\u{0}; reboot"], policy).contains("NUL"))
        #expect(refusal([], policy).contains("empty"))
        #expect(refusal(["uptime"], try self.policy([])).contains("exec is off"))
        #expect(refusal(["/usr/bin/nonexistent-\(UUID().uuidString.prefix(4))"], policy).contains("not on this agent's exec.allow list"))
    }

    @Test("warnings for entries that can spawn arbitrary programs, by basename of the path and of its target")
    func warnings() throws {
        let risky = [
            "/bin/sh -c *", "/usr/bin/bash", "/usr/bin/python3.11 -V", "/usr/bin/env", "/usr/bin/find /var/log -name *",
            "/usr/bin/xargs", "/usr/bin/sudo -n *", "/usr/bin/perl -e *", "/usr/bin/awk *", "/usr/bin/vim", "/usr/bin/tar -tf *",
            "/usr/bin/git status", "/usr/bin/make", "/usr/bin/busybox", "/usr/bin/timeout 5 *", "/usr/bin/systemd-run *",
        ]
        let policy = try self.policy(risky + ["/usr/bin/uptime", "/usr/bin/systemctl status *"])
        let warnings = policy.warnings
        for entry in risky {
            #expect(warnings.contains { $0.contains("'\(entry)'") && $0.contains("can spawn arbitrary programs") }, "no warning for \(entry): \(warnings)")
        }
        #expect(!warnings.contains { $0.contains("'/usr/bin/uptime'") || $0.contains("systemctl") }, "\(warnings)")

        // A symlink with an innocent name to a shell is still a shell.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("exec-warn-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let innocent = directory.appendingPathComponent("report").path
        try FileManager.default.createSymbolicLink(atPath: innocent, withDestinationPath: "/bin/sh")
        #expect(try self.policy([innocent]).warnings.first?.contains("can spawn arbitrary programs") == true)
        #expect(try self.policy(["/usr/bin/nowhere-\(UUID().uuidString.prefix(4))"]).warnings.first?.contains("does not exist") == true)
    }

    @Test("exec.user: resolves names and uids; a non-root agent may only name itself")
    func user() throws {
        let nobody = try ExecUser.resolve("nobody")
        #expect(nobody.uid == 65534)
        #expect(try ExecUser.resolve("65534").name == nobody.name)
        #expect(nobody.groups.contains(nobody.gid))
        #expect(throws: ExecUser.Invalid.self) { try ExecUser.resolve("no-such-user-\(UUID().uuidString.prefix(6))") }
        if geteuid() == 0 {
            try nobody.checkSwitchable()
        } else {
            #expect(throws: ExecUser.Invalid.self) { try nobody.checkSwitchable() }
        }
    }

    @Test("the master cannot change exec.*: a config request naming it is refused, nothing persisted; runtime.json cannot carry it")
    func masterCannotChangeExec() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("exec-runtime-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var config = AgentConfig()
        config.agent.stateDir = directory.path
        let runtime = RuntimeSettings(config: config)
        for key in ["exec.allow", "exec.user", "exec.timeout", "exec.max_output", "exec"] {
            #expect(throws: CommandRunner.Refusal.self, "\(key)") {
                try runtime.apply([key: .array([.string("/bin/sh -c *")]), "metrics.interval": .number(5)])
            }
        }
        #expect(!FileManager.default.fileExists(atPath: config.runtimeOverridesPath), "all or none: nothing persisted")
        #expect(!AgentConfig.runtimeKeys.contains { $0.hasPrefix("exec") })
        // A runtime.json someone edited by hand still only brings back the runtime keys.
        try #"{"exec.allow":["/bin/sh -c *"],"metrics.interval":7}"#.write(toFile: config.runtimeOverridesPath, atomically: true, encoding: .utf8)
        #expect(RuntimeSettings.persistedOverrides(at: config.runtimeOverridesPath) == ["metrics.interval=7.0"])
    }

    @Test("the child's environment is fixed: PATH, LANG, HOME and nothing else")
    func environment() {
        #expect(CommandRunner.environment(home: "/home/ops") == [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/home/ops",
        ])
        #expect(CommandRunner.environment(home: nil).last == "HOME=/")
        #expect(CommandRunner.environment(home: "").last == "HOME=/")
    }
}
