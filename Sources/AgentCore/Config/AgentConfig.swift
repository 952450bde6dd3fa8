#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FleetSupport

/// `agent.yaml`: the seed's keys and defaults, plus identity and connection tuning.
public struct AgentConfig: Codable, Sendable {
    public struct Master: Codable, Sendable {
        /// Gateway WebSocket URL (seed: `ws://HOST:8080/ws`).
        public var url = "ws://127.0.0.1:8080/ws"
        /// More gateway URLs, tried in order after `url` when it fails (failover).
        public var urls: [String] = []
        /// REST base for callback results (seed: `http://HOST:8080/api`).
        public var apiURL = "http://127.0.0.1:8080/api"
        /// Enrollment token, sent as `Authorization: Bearer` when opening the WebSocket
        /// (the master's `<data_dir>/agent-token`).
        public var token = ""
        /// A file holding the token, read at start when `token` is empty: a mounted secret
        /// (compose, Kubernetes), so the token is in neither the environment nor `ps`.
        public var tokenFile = ""
        /// PEM bundle of the CA(s) the gateway's certificate must chain to (a private CA from
        /// `master certs init`); empty = the system's roots. Used for wss:// and https://.
        public var caFile = ""
        /// This agent's client certificate and key (PEM), for gateways that require one
        /// (`server.tls.client_ca`); both or neither.
        public var certFile = ""
        public var keyFile = ""
        /// Allow sending the token over ws:// or http:// to a host that is not loopback. Off:
        /// the agent refuses to start rather than let the token travel in clear.
        public var insecure = false
        enum CodingKeys: String, CodingKey {
            case url, urls, token, insecure
            case apiURL = "api_url"
            case tokenFile = "token_file"
            case caFile = "ca_file"
            case certFile = "cert_file"
            case keyFile = "key_file"
        }
    }

    public struct Metrics: Codable, Sendable {
        /// Seconds between heartbeats (each carries a snapshot).
        public var interval = 300.0
    }

    public struct Logging: Codable, Sendable {
        public var level = "info"
        /// Megabytes per log file before it rotates.
        public var rotationSize = 10
        public var maxBackups = 5
        /// Directory for agent.log; empty means the OS's usual place
        /// (/var/log/fleet-agent as root, else <state_dir>/logs).
        public var dir = ""
        enum CodingKeys: String, CodingKey {
            case level, dir
            case rotationSize = "rotation_size"
            case maxBackups = "max_backups"
        }
    }

    public struct Identity: Codable, Sendable {
        /// Where the agent keeps its id (and later its offline buffer); empty means
        /// /var/lib/fleet-agent as root, else ~/.local/state/fleet-agent.
        public var stateDir = ""
        /// Free-form labels reported to the master (`role: db`).
        public var labels: [String: String] = [:]
        enum CodingKeys: String, CodingKey {
            case labels
            case stateDir = "state_dir"
        }
    }

    public struct Connection: Codable, Sendable {
        /// First reconnect delay ceiling, seconds; doubles per failure up to `backoff_cap`.
        public var backoffBase = 1.0
        public var backoffCap = 60.0
        /// Seconds between WebSocket pings: a dead path is noticed within about two of these.
        public var pingInterval = 15.0
        enum CodingKeys: String, CodingKey {
            case backoffBase = "backoff_base"
            case backoffCap = "backoff_cap"
            case pingInterval = "ping_interval"
        }
    }

    public struct Exec: Codable, Sendable {
        /// Argv patterns an `exec` request must match, one entry per allowed command line:
        /// absolute program path, then one shell-style pattern per argument
        /// (`/usr/bin/systemctl status *`); see `ExecPattern`. Empty = exec off. Only this
        /// file can set it: the master cannot change it at runtime.
        public var allow: [String] = []
        /// Default and largest timeout in seconds; then the command's whole process group is
        /// sent SIGTERM, and SIGKILL a second later.
        public var timeout = 30.0
        /// Bytes kept per output stream (stdout, stderr); the rest is cut and flagged.
        public var maxOutput = 65_536
        /// User (name or uid) commands run as; empty = the agent's own user. Switching needs
        /// the agent to run as root.
        public var user = ""
        enum CodingKeys: String, CodingKey {
            case allow, timeout, user
            case maxOutput = "max_output"
        }
    }

    public struct Buffer: Codable, Sendable {
        /// Samples kept while disconnected (default: 24 h at the default 300 s interval).
        public var maxSamples = 288
        /// Disk the ring may use, in bytes.
        public var maxBytes = 16 * 1_048_576
        enum CodingKeys: String, CodingKey {
            case maxSamples = "max_samples"
            case maxBytes = "max_bytes"
        }
    }

    public var master = Master()
    public var metrics = Metrics()
    public var logging = Logging()
    public var agent = Identity()
    public var connection = Connection()
    public var exec = Exec()
    public var buffer = Buffer()

    public init() {}

    /// Keys a `config` request may change at runtime; they are applied live and persisted in
    /// `<state_dir>/runtime.json`, which `agent run` reads after the config file.
    public static let runtimeKeys: Set<String> = ["metrics.interval", "logging.level"]

    /// Path of the persisted runtime overrides.
    public var runtimeOverridesPath: String { "\(resolvedStateDir)/runtime.json" }

    public static let environmentPrefix = "FLEET_AGENT_"

    /// Every gateway URL in failover order.
    public var gatewayURLs: [String] { [master.url] + master.urls.filter { $0 != master.url } }

    public var resolvedStateDir: String {
        if !agent.stateDir.isEmpty { return agent.stateDir }
        if getuid() == 0 { return "/var/lib/fleet-agent" }
        let home = getenv("HOME").map { String(cString: $0) } ?? "."
        return "\(home)/.local/state/fleet-agent"
    }

    public var resolvedLogDir: String {
        if !logging.dir.isEmpty { return logging.dir }
        if getuid() == 0 { return "/var/log/fleet-agent" }
        return "\(resolvedStateDir)/logs"
    }

    public func validate() throws {
        func fail(_ key: String, _ message: String) -> ConfigError {
            ConfigError(kind: .invalidValue, source: "configuration", key: key, message: message)
        }
        for (index, url) in gatewayURLs.enumerated() where !(url.hasPrefix("ws://") || url.hasPrefix("wss://")) {
            throw fail(index == 0 ? "master.url" : "master.urls", "'\(url)' is not a ws:// or wss:// URL")
        }
        try validateTransport()
        guard metrics.interval >= 0.1 else { throw fail("metrics.interval", "must be at least 0.1 seconds") }
        guard FleetLogging.level(logging.level) != nil else {
            throw fail("logging.level", "must be one of trace, debug, info, notice, warning, error, critical")
        }
        guard logging.rotationSize >= 1 else { throw fail("logging.rotation_size", "must be at least 1 (MB)") }
        guard logging.maxBackups >= 0 else { throw fail("logging.max_backups", "must be 0 or more") }
        guard exec.timeout > 0, exec.maxOutput >= 0 else { throw fail("exec.timeout", "exec.timeout must be > 0 and exec.max_output >= 0") }
        // Every exec.allow entry parses and exec.user exists (and can be switched to).
        _ = try ExecPolicy(exec)
        guard connection.backoffBase > 0, connection.backoffCap >= connection.backoffBase else {
            throw fail("connection.backoff_cap", "backoff_base must be > 0 and backoff_cap >= backoff_base")
        }
    }
}
