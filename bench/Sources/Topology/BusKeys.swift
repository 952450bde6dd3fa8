import Foundation
import Spawn

/// Bus keys for a topology (or a test cluster) that runs across hosts: what a real
/// deployment does, `master keys generate`, so a split run measures CURVE too.
public enum BusKeys {
    /// Writes `registry`, `gateway-1…gateways` and `worker-1…workers` keypairs into `directory`
    /// (replacing what is there). Waits without blocking a thread: the tests call it on their
    /// cooperative pool.
    public static func generate(master: String, into directory: URL, gateways: Int, workers: Int) async throws {
        let arguments = ["keys", "generate", "--dir", directory.path, "--gateways", "\(gateways)", "--workers", "\(workers)", "--force"]
        let result = try await ChildProcess.run(master, arguments)
        guard result.termination == .exited(0) else {
            throw TopologyError("master \(arguments.joined(separator: " ")) ended with \(result.termination): \(result.output)")
        }
    }
}

/// Runs a helper command to its end; a non-zero exit is an error carrying what it printed.
/// Blocks the calling thread: for short commands (`ip`) from synchronous code.
enum Command {
    static func run(_ executable: String, _ arguments: [String]) throws {
        let result = try ChildProcess.runBlocking(executable, arguments)
        guard result.termination == .exited(0) else {
            let name = executable.split(separator: "/").last.map(String.init) ?? executable
            throw TopologyError("\(name) \(arguments.joined(separator: " ")) ended with \(result.termination): \(result.output)")
        }
    }
}
