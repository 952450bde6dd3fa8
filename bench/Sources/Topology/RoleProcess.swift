import Foundation
import Spawn

/// One master role running as a child process, as reported by its `--ready-file`.
public final class RoleProcess: Sendable {

    /// What the role wrote to its ready file.
    public struct Ready: Decodable, Sendable {
        public struct Bus: Decodable, Sendable {
            public var events: String
            public var updates: String
            public var snapshot: String
            public var jobs_in: String
            public var jobs_out: String
            public var blobs: String

            public init(events: String, updates: String, snapshot: String, jobs_in: String, jobs_out: String, blobs: String) {
                self.events = events
                self.updates = updates
                self.snapshot = snapshot
                self.jobs_in = jobs_in
                self.jobs_out = jobs_out
                self.blobs = blobs
            }
        }
        public var role: String
        public var http: String?
        public var gatewayId: String?
        public var bus: Bus?
        public var metrics: String?
    }

    public let name: String
    public let arguments: [String]
    public let process: ChildProcess
    public let ready: Ready
    /// Where the role's stderr goes (its stdout too).
    public let logFile: URL

    init(name: String, arguments: [String], process: ChildProcess, ready: Ready, logFile: URL) {
        self.name = name
        self.arguments = arguments
        self.process = process
        self.ready = ready
        self.logFile = logFile
    }

    public var pid: Int32 { process.pid }
    public var isRunning: Bool { process.isRunning }
    /// The gateway's HTTP base URL (gateways and `serve` only).
    public var http: String? { ready.http }
    /// The agents' WebSocket URL (gateways and `serve` only).
    public var ws: String? { http.map { $0.replacingOccurrences(of: "http://", with: "ws://") + "/ws" } }
    /// Where this process's Prometheus text is served: a gateway's own port, or `metrics.listen`.
    public var metricsURL: String? {
        if let metrics = ready.metrics { return metrics }
        return http.map { $0 + "/metrics" }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    public func stop(grace: Duration = .seconds(10)) async {
        await process.stop(grace: grace)
        ChildProcesses.remove(process.pid)
    }
}

extension RoleProcess.Ready {
    /// Waits for a role's `--ready-file` (what the bench's topology and the tests' cluster both
    /// start roles by): its contents once written whole, polling every 20 ms without blocking a
    /// thread. Throws with `log()` (the role's output) if the process ends first or `timeout`
    /// passes; stopping a role that never got ready is the caller's part.
    ///
    /// Looked at once more after the deadline: a task that was not scheduled for a while must
    /// not fail a role that did get ready in time.
    public static func wait(
        file path: String, of process: ChildProcess, name: String, timeout: Duration, log: () -> String
    ) async throws -> RoleProcess.Ready {
        let deadline = ContinuousClock.now + timeout
        while true {
            let late = ContinuousClock.now >= deadline
            // A half-written file does not decode: not ready yet.
            if let data = FileManager.default.contents(atPath: path), let ready = try? JSONDecoder().decode(Self.self, from: data) {
                return ready
            }
            if late { break }
            if let ended = process.termination {
                throw TopologyError("\(name) ended (\(ended)) before it was ready:\n\(log())")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TopologyError("\(name) not ready after \(timeout):\n\(log())")
    }
}
