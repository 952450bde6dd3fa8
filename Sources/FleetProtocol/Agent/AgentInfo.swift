/// Operating system facts an agent reports once per connection.
public struct OSInfo: Codable, Sendable, Equatable {
    /// Distribution or product name, e.g. "Debian GNU/Linux", "macOS", "Windows".
    public var name: String
    /// Version string, e.g. "12 (bookworm)".
    public var version: String
    /// Kernel release, e.g. "6.1.0-18-amd64".
    public var kernel: String
    /// Machine architecture, e.g. "x86_64", "arm64".
    public var arch: String

    public init(name: String, version: String, kernel: String, arch: String) {
        self.name = name
        self.version = version
        self.kernel = kernel
        self.arch = arch
    }
}

/// Who an agent is: sent in `hello` and kept by the registry.
public struct AgentInfo: Codable, Sendable, Equatable {
    /// Stable identifier created once and stored in the agent's state directory.
    public var id: String
    /// The host's name, used as display name.
    public var hostname: String
    public var os: OSInfo
    public var agentVersion: String
    /// Free-form labels from the agent's config (e.g. `role: db`).
    public var labels: [String: String]

    public init(id: String, hostname: String, os: OSInfo, agentVersion: String, labels: [String: String] = [:]) {
        self.id = id
        self.hostname = hostname
        self.os = os
        self.agentVersion = agentVersion
        self.labels = labels
    }

    /// Agent IDs are used in URLs, bus topics and file names: letters, digits, `-`, `_`, `.`,
    /// 1 to 128 characters, not starting with a dot.
    public static func isValidID(_ id: String) -> Bool {
        guard (1...128).contains(id.utf8.count), id.first != "." else { return false }
        return id.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2D || byte == 0x5F || byte == 0x2E
        }
    }
}
