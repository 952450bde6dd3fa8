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
import FleetSupport

/// `agent install|uninstall|start|stop|restart|status`: puts the agent in the OS's standard
/// places and registers it with the service manager (systemd on Linux, launchd on macOS).
/// With a `root` other than "/", files are written under it and no service manager is
/// touched, which is how the tests (and image builds) use it.
public struct ServiceInstaller: Sendable {
    public let layout: ServiceLayout

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public init(layout: ServiceLayout) {
        self.layout = layout
    }

    var managesLiveSystem: Bool { layout.root.isEmpty }

    #if !os(Windows)
    /// Installs the binary, the config (mode 0600: it holds the enrollment token), the state
    /// and log directories, and the service definition; enables and starts it on a live system.
    /// - Returns: what was done, line by line, for the operator.
    public func install(binary: String, config: String?) throws -> [String] {
        var report: [String] = []
        try makeDirectory(layout.rooted("/usr/local/bin"), mode: 0o755)
        try makeDirectory(layout.rooted("/etc/\(layout.name)"), mode: 0o700)
        try makeDirectory(layout.rooted(layout.statePath), mode: 0o700)
        try makeDirectory(layout.rooted(layout.logPath), mode: 0o750)
        try makeDirectory(parent(of: layout.rooted(layout.definitionPath)), mode: 0o755)

        if realPath(binary) != realPath(layout.rooted(layout.binaryPath)) {
            try copy(binary, to: layout.rooted(layout.binaryPath), mode: 0o755)
            report.append("binary   \(layout.binaryPath)")
        }
        let configTarget = layout.rooted(layout.configPath)
        if let config {
            try copy(config, to: configTarget, mode: 0o600)
            report.append("config   \(layout.configPath) (0600, from \(config))")
        } else if !FileManager.default.fileExists(atPath: configTarget) {
            try write(Self.defaultConfig, to: configTarget, mode: 0o600)
            report.append("config   \(layout.configPath) (0600, defaults: set master.url and master.token)")
        } else {
            report.append("config   \(layout.configPath) (kept)")
        }
        #if os(macOS)
        let definition = LaunchdPlist.render(
            label: "com.fleet.\(layout.name)", binary: layout.binaryPath, config: layout.configPath, logDir: layout.logPath
        )
        #else
        let definition = SystemdUnit.render(layout)
        #endif
        try write(definition, to: layout.rooted(layout.definitionPath), mode: 0o644)
        report.append("service  \(layout.definitionPath)")

        if managesLiveSystem {
            #if os(macOS)
            try run(["launchctl", "load", "-w", layout.definitionPath])
            #else
            try run(["systemctl", "daemon-reload"])
            try run(["systemctl", "enable", "--now", "\(layout.name).service"])
            #endif
            report.append("enabled and started")
        } else {
            report.append("not registered with the service manager (--root \(layout.root))")
        }
        return report
    }

    /// Stops and removes the service definition and the binary. Config, state and logs stay
    /// unless `purge` (the agent id lives in the state directory).
    public func uninstall(purge: Bool) throws -> [String] {
        var report: [String] = []
        if managesLiveSystem {
            #if os(macOS)
            _ = try? run(["launchctl", "unload", "-w", layout.definitionPath])
            #else
            _ = try? run(["systemctl", "disable", "--now", "\(layout.name).service"])
            #endif
        }
        for path in [layout.definitionPath, layout.binaryPath] where FileManager.default.fileExists(atPath: layout.rooted(path)) {
            try FileManager.default.removeItem(atPath: layout.rooted(path))
            report.append("removed  \(path)")
        }
        if managesLiveSystem {
            #if !os(macOS)
            _ = try? run(["systemctl", "daemon-reload"])
            #endif
        }
        if purge {
            for path in ["/etc/\(layout.name)", layout.statePath, layout.logPath] where FileManager.default.fileExists(atPath: layout.rooted(path)) {
                try FileManager.default.removeItem(atPath: layout.rooted(path))
                report.append("removed  \(path)")
            }
        } else {
            report.append("kept     \(layout.configPath), \(layout.statePath) (agent id), \(layout.logPath); --purge removes them")
        }
        return report
    }

    /// `start`, `stop`, `restart`, `status` through the service manager.
    public func control(_ verb: String) throws -> String {
        guard managesLiveSystem else { throw Failure(description: "\(verb) needs the live system (no --root)") }
        #if os(macOS)
        let argv: [String] = switch verb {
        case "start": ["launchctl", "start", "com.fleet.\(layout.name)"]
        case "stop": ["launchctl", "stop", "com.fleet.\(layout.name)"]
        case "restart": ["launchctl", "kickstart", "-k", "system/com.fleet.\(layout.name)"]
        default: ["launchctl", "print", "system/com.fleet.\(layout.name)"]
        }
        #else
        let argv = ["systemctl", verb == "status" ? "status" : verb, "--no-pager", "\(layout.name).service"]
        #endif
        return try run(argv, allowFailure: verb == "status")
    }
    #endif

    /// The config written when none is given: every key at its default, the two that must be
    /// set called out.
    static let defaultConfig = """
        # fleet agent configuration (see config/agent.yaml in the source for every key).
        master:
          url: wss://MASTER-HOST:8080/ws     # set this (ws:// carries the token in clear: loopback only,
          api_url: https://MASTER-HOST:8080/api  # unless insecure: true)
          token: ""                          # set this: the master's agent-token
          ca_file: ""                        # the gateway's CA (ca.crt of `master certs init`); empty = system roots
        metrics:
          interval: 300

        """

    // MARK: Files

    func makeDirectory(_ path: String, mode: mode_t) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chmod(path, mode)
    }

    func copy(_ source: String, to target: String, mode: mode_t) throws {
        guard let data = FileManager.default.contents(atPath: source) else { throw Failure(description: "cannot read \(source)") }
        try write(data, to: target, mode: mode)
    }

    func write(_ text: String, to target: String, mode: mode_t) throws {
        try AtomicFile.write(text, to: target, mode: mode)
    }

    func write(_ data: Data, to target: String, mode: mode_t) throws {
        try AtomicFile.write(data, to: target, mode: mode)
    }

    func parent(of path: String) -> String {
        String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
    }

    func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    @discardableResult
    func run(_ argv: [String], allowFailure: Bool = false) throws -> String {
        // Resolved in the same clean PATH as exec requests: the installer may run from a shell
        // whose PATH has anything early in it.
        guard let program = ProgramSearch.resolve(argv[0]) else {
            throw Failure(description: "\(argv[0]) not found in \(ProgramSearch.cleanPath)")
        }
        let outcome = try CommandRunner.run(program: program, argv: argv, timeout: 60, maxOutput: 65_536)
        guard allowFailure || outcome.exitCode == 0 else {
            throw Failure(description: "\(argv.joined(separator: " ")) failed (\(outcome.exitCode.map(String.init) ?? "signal")): \(outcome.stderr)")
        }
        return outcome.stdout + outcome.stderr
    }
}
