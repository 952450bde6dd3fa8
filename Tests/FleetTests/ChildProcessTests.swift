import Foundation
import Spawn
import Testing

/// Spawn's ChildProcess, which starts every child of the master, the bench and the tests in
/// place of Foundation's Process (whose run() crashes now and then on Linux).
@Suite("Child processes (Spawn)")
struct ChildProcessTests {
    @Test("exit codes, signals, stdin from a string, stdout and stderr captured together")
    func runToEnd() async throws {
        let ok = try await ChildProcess.run("/bin/sh", ["-c", "read line; echo \"got $line\"; echo oops >&2; exit 3"], input: "hello\n")
        #expect(ok.termination == .exited(3))
        #expect(ok.output == "got hello\noops\n")

        let killed = try await ChildProcess.run("/bin/sh", ["-c", "kill -9 $$"])
        #expect(killed.termination == .signalled(SIGKILL))
        #expect(killed.termination.status == SIGKILL)

        let blocking = try ChildProcess.runBlocking("/bin/sh", ["-c", "echo $0 $1", "zero", "one"])
        #expect(blocking.output == "zero one\n")
    }

    @Test("working directory, the whole environment as given, and no descriptor of ours inherited")
    func childSetup() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spawn-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let leaked = open("/dev/null", O_RDONLY)  // not close-on-exec: CSpawn must close it anyway
        defer { close(leaked) }
        let result = try await ChildProcess.run(
            "/bin/sh", ["-c", "pwd; echo \"[$ONLY][$HOME]\"; ls /proc/self/fd"], environment: ["ONLY": "this", "PATH": "/usr/bin:/bin"],
            directory: directory.path
        )
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(lines.first == directory.path)
        #expect(lines.dropFirst().first == "[this][]")
        // ls sees 0, 1, 2 and the descriptor it opened for the listing (3), nothing of ours.
        #expect(leaked > 3)
        #expect(Set(lines.dropFirst(2)).isSubset(of: ["0", "1", "2", "3"]), "\(lines)")
    }

    @Test("a long-running child: output to a file, SIGTERM through stop(), and no signal once it is reaped")
    func longRunning() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("spawn-\(UUID().uuidString.prefix(8)).log").path
        defer { unlink(log) }
        let child = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "echo started; exec sleep 30"], stdout: .file(log, append: false))
        #expect(child.isRunning)
        #expect(await eventually { (try? String(contentsOfFile: log, encoding: .utf8)) == "started\n" })
        #expect(await child.wait(timeout: .milliseconds(100)) == nil, "still running")
        let ended = await child.stop(grace: .seconds(5))
        #expect(ended == .signalled(SIGTERM))
        #expect(!child.isRunning)
        child.signal(SIGKILL)  // reaped: must not reach whatever has the pid now
        #expect(child.termination == .signalled(SIGTERM))
    }

    @Test("a missing program or a relative path is a clear error, not a child")
    func refusals() throws {
        #expect(throws: ChildProcess.SpawnError.self) { try ChildProcess(executable: "/nonexistent/program", arguments: []) }
        do {
            _ = try ChildProcess(executable: "/nonexistent/program", arguments: [])
        } catch {
            #expect(error.description.contains("execve"), "\(error)")
        }
        #expect(throws: ChildProcess.SpawnError.self) { try ChildProcess(executable: "sh", arguments: []) }
    }

    private func eventually(_ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }
}
