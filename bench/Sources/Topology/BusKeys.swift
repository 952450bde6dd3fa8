import Foundation

/// Bus keys for a topology (or a test cluster) that runs across hosts: what a real
/// deployment does, `master keys generate`, so a split run measures CURVE too.
public enum BusKeys {
    /// Writes `registry`, `gateway-1…gateways` and `worker-1…workers` keypairs into `directory`
    /// (replacing what is there).
    public static func generate(master: String, into directory: URL, gateways: Int, workers: Int) throws {
        try Command.run(master, ["keys", "generate", "--dir", directory.path, "--gateways", "\(gateways)", "--workers", "\(workers)", "--force"])
    }
}

/// Runs a helper command to its end; a non-zero exit is an error carrying what it printed on stderr.
enum Command {
    static func run(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let name = executable.split(separator: "/").last.map(String.init) ?? executable
            throw TopologyError("\(name) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(message)")
        }
    }
}
