/// Where an installed agent lives, per OS: the binary, its config (0600: it holds the
/// enrollment token), its state and its logs. Every path is under `root` so tests (and
/// image builders) can install into a scratch directory.
public struct ServiceLayout: Sendable, Equatable {
    public var root: String
    public var name: String

    public init(root: String = "", name: String = "fleet-agent") {
        self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
        self.name = name
    }

    #if os(Windows)
    public var binary: String { "\(root)C:\\Program Files\\FleetAgent\\fleet-agent.exe" }
    public var configFile: String { "\(root)C:\\ProgramData\\FleetAgent\\agent.yaml" }
    public var stateDir: String { "\(root)C:\\ProgramData\\FleetAgent\\state" }
    public var logDir: String { "\(root)C:\\ProgramData\\FleetAgent\\logs" }
    #else
    /// Installed paths as the service will see them (without `root`).
    public var binaryPath: String { "/usr/local/bin/\(name)" }
    public var configPath: String { "/etc/\(name)/agent.yaml" }
    public var statePath: String { "/var/lib/\(name)" }
    public var logPath: String { "/var/log/\(name)" }
    #if os(macOS)
    public var definitionPath: String { "/Library/LaunchDaemons/com.fleet.\(name).plist" }
    #else
    public var definitionPath: String { "/etc/systemd/system/\(name).service" }
    #endif

    /// The same paths inside `root`, where the files are written.
    public func rooted(_ path: String) -> String { root + path }
    #endif
}
