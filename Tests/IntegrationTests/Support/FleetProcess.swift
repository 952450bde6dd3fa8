import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Spawn
import Testing

/// One of our built binaries running as a real child process, with its stdout/stderr in
/// files under the test's directory (read them when a test fails). Started with Spawn's
/// `ChildProcess`, not Foundation's `Process` (whose run() crashed a full test run: see there).
final class FleetProcess: Sendable {
    let name: String
    let process: ChildProcess
    let stdoutPath: String
    let stderrPath: String

    /// Where SwiftPM put `master` and `agent`: beside the test bundle.
    static let productsDirectory: URL = {
        let executable = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        var directory = executable.deletingLastPathComponent()
        // The runner may live inside a bundle directory (…/fleetPackageTests.xctest/…).
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("master").path),
            directory.path != "/"
        {
            directory = directory.deletingLastPathComponent()
        }
        return directory
    }()

    init(name: String, binary: String, arguments: [String], directory: URL, environment: [String: String] = [:]) throws {
        self.name = name
        // Our binaries by name; anything else (a test helper) by absolute path.
        let executable = binary.hasPrefix("/") ? URL(fileURLWithPath: binary) : Self.productsDirectory.appendingPathComponent(binary)
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw HarnessError("\(binary) not built at \(executable.path): run `swift build` first")
        }
        stdoutPath = directory.appendingPathComponent("\(name).out").path
        stderrPath = directory.appendingPathComponent("\(name).err").path
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("FLEET_") }
        env.merge(environment) { $1 }
        process = try ChildProcess(
            executable: executable.path, arguments: arguments, environment: env, directory: directory.path,
            stdin: .null, stdout: .file(stdoutPath, append: false), stderr: .file(stderrPath, append: false)
        )
    }

    var pid: Int32 { process.pid }
    var arguments: [String] { process.arguments }
    var isRunning: Bool { process.isRunning }
    /// How it ended; nil while it runs.
    var terminationStatus: Int32? { process.termination?.status }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    func signal(_ signal: Int32) { process.signal(signal) }

    /// Waits for the process to exit; returns its exit code (or the signal that ended it),
    /// or nil on timeout.
    func waitForExit(timeout: Duration = .seconds(10)) async -> Int32? {
        await process.wait(timeout: timeout)?.status
    }

    /// SIGTERM, then SIGKILL if it does not exit in time.
    func stop() async {
        guard process.isRunning else { return }
        await process.stop(grace: .seconds(10))
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Minimal JSON-over-HTTP client for the tests (URLSession, no cache).
enum HTTP {
    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 5
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        return URLSession(configuration: configuration)
    }()

    static func get(_ url: String, token: String? = nil, timeout: TimeInterval? = nil) async throws -> (status: Int, body: Data) {
        var request = URLRequest(url: URL(string: url)!)
        if let timeout { request.timeoutInterval = timeout }
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await session.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }
}
