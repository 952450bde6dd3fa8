#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FleetProtocol
import FleetSupport
import Logging
import Synchronization

/// Settings a `config` request may change while the agent runs (`AgentConfig.runtimeKeys`):
/// read by the heartbeat loop at every beat and by the log handlers at every line.
public final class RuntimeSettings: Sendable {
    private let state: Mutex<(interval: Double, level: String)>
    private let path: String

    public init(config: AgentConfig) {
        self.state = Mutex((config.metrics.interval, config.logging.level))
        self.path = config.runtimeOverridesPath
    }

    public var metricsInterval: Double { state.withLock { $0.interval } }

    /// Applies `changes` (`{"metrics.interval": 10, "logging.level": "debug"}`), all or none,
    /// persists them, and returns what is now in force.
    public func apply(_ changes: [String: JSONValue]) throws -> [String: JSONValue] {
        var interval: Double?
        var level: String?
        for (key, value) in changes {
            switch key {
            case "metrics.interval":
                guard let seconds = value.numberValue, seconds >= 0.1 else {
                    throw CommandRunner.Refusal(description: "metrics.interval must be a number of seconds >= 0.1")
                }
                interval = seconds
            case "logging.level":
                guard let name = value.stringValue, FleetLogging.level(name) != nil else {
                    throw CommandRunner.Refusal(description: "logging.level must be one of trace, debug, info, notice, warning, error, critical")
                }
                level = name
            default:
                throw CommandRunner.Refusal(description: "'\(key)' cannot be changed at runtime (allowed: \(AgentConfig.runtimeKeys.sorted().joined(separator: ", ")))")
            }
        }
        // Persist first: a change the agent would forget at its next start is not applied.
        let old = state.withLock { $0 }
        let next = (interval: interval ?? old.interval, level: level ?? old.level)
        let current: [String: JSONValue] = ["metrics.interval": .number(next.interval), "logging.level": .string(next.level)]
        try persist(current)
        state.withLock { $0 = next }
        if let level, let parsed = FleetLogging.level(level) { FleetLogging.setLevel(parsed) }
        return current
    }

    /// Writes atomically: a temporary file, then rename over the old one.
    private func persist(_ values: [String: JSONValue]) throws {
        try AtomicFile.write(try FleetJSON.encode(values), to: path, mode: 0o600)
    }

    /// The persisted overrides as `--set` strings, for `agent run` to apply after the file.
    public static func persistedOverrides(at path: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: path),
            let values = try? FleetJSON.decode([String: JSONValue].self, from: Array(data))
        else { return [] }
        return values.sorted { $0.key < $1.key }.compactMap { key, value in
            guard AgentConfig.runtimeKeys.contains(key) else { return nil }
            switch value {
            case .number(let number): return "\(key)=\(number)"
            case .string(let string): return "\(key)=\(string)"
            default: return nil
            }
        }
    }
}
