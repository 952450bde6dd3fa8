import Foundation
import Spawn
import Testing

/// `agent install|uninstall --root`: the real binary writing into a scratch root.
@Suite("Service install", .serialized)
struct ServiceInstallTests {
    @Test("install writes binary, 0600 config, state and log dirs and a unit with the right ExecStart; uninstall removes it; --purge the rest")
    func installUninstall() async throws {
        try await withCluster("install") { cluster in
            let root = cluster.directory.appendingPathComponent("root").path
            try "master:\n  token: secret\n".write(toFile: cluster.directory.appendingPathComponent("mine.yaml").path, atomically: true, encoding: .utf8)

            let install = try cluster.start("install", "agent", ["install", "--root", root, "--config", "mine.yaml"])
            #expect(await install.waitForExit() == 0, "\(install.stderr)")
            let unit = try String(contentsOfFile: root + "/etc/systemd/system/fleet-agent.service", encoding: .utf8)
            #expect(unit.contains("ExecStart=/usr/local/bin/fleet-agent run --config /etc/fleet-agent/agent.yaml\n"))
            #expect(unit.contains("Restart=always"))
            func mode(_ path: String) throws -> Int? { try FileManager.default.attributesOfItem(atPath: root + path)[.posixPermissions] as? Int }
            #expect(try mode("/etc/fleet-agent/agent.yaml") == 0o600, "the config holds the token")
            #expect(try mode("/var/lib/fleet-agent") == 0o700)
            #expect(try String(contentsOfFile: root + "/etc/fleet-agent/agent.yaml", encoding: .utf8).contains("token: secret"))

            // The installed binary is the agent.
            let installed = try await ChildProcess.run(root + "/usr/local/bin/fleet-agent", ["--version"])
            #expect(installed.termination == .exited(0))
            #expect(installed.output.hasPrefix("0."))

            let uninstall = try cluster.start("uninstall", "agent", ["uninstall", "--root", root])
            #expect(await uninstall.waitForExit() == 0)
            #expect(!FileManager.default.fileExists(atPath: root + "/etc/systemd/system/fleet-agent.service"))
            #expect(!FileManager.default.fileExists(atPath: root + "/usr/local/bin/fleet-agent"))
            #expect(FileManager.default.fileExists(atPath: root + "/etc/fleet-agent/agent.yaml"), "config kept without --purge")

            let purge = try cluster.start("purge", "agent", ["uninstall", "--root", root, "--purge"])
            #expect(await purge.waitForExit() == 0)
            #expect(!FileManager.default.fileExists(atPath: root + "/etc/fleet-agent"))
            #expect(!FileManager.default.fileExists(atPath: root + "/var/lib/fleet-agent"))

            // Service control needs the live system; with --root it says so and fails.
            let status = try cluster.start("status", "agent", ["status", "--root", root])
            #expect(await status.waitForExit() == 1)
            #expect(status.stderr.contains("needs the live system"))
        }
    }
}
