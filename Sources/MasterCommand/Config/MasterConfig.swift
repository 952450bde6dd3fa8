import Bus
import FleetProtocol
import Registry
import FleetSupport

/// `master.yaml`: the seed's keys and defaults, plus the bus and the data directory.
/// Every key is documented in README.md ("Configuration reference") and config/master.yaml.
struct MasterConfig: Codable, Sendable {
    struct Server: Codable, Sendable {
        /// PEM files of the gateway's TLS identity. With `cert` and `key` the gateway serves
        /// HTTPS and WSS only; with `client_ca` too, every client must present a certificate
        /// issued by that CA (mTLS). Empty = plain HTTP/WS (loopback and labs).
        struct TLS: Codable, Sendable {
            var cert = ""
            var key = ""
            var clientCA = ""
            enum CodingKeys: String, CodingKey {
                case cert, key
                case clientCA = "client_ca"
            }

            var enabled: Bool { !cert.isEmpty }
        }

        var host = "0.0.0.0"
        var port = 8080
        var wsPath = "/ws"
        /// Seconds a new connection may take to send a whole request head (slowloris).
        var headerTimeout = 10.0
        /// Seconds an HTTP connection may stay idle between requests.
        var idleTimeout = 60.0
        /// Seconds a request body may stop arriving before its connection is closed.
        var readTimeout = 30.0
        var tls = TLS()
        enum CodingKeys: String, CodingKey {
            case host, port, tls
            case wsPath = "ws_path"
            case headerTimeout = "header_timeout"
            case idleTimeout = "idle_timeout"
            case readTimeout = "read_timeout"
        }
    }

    struct Heartbeat: Codable, Sendable {
        /// Seconds without a heartbeat before an agent is `offline`.
        var timeout = 600.0
        /// Seconds between offline sweeps.
        var cleanupInterval = 300.0
        enum CodingKeys: String, CodingKey {
            case timeout
            case cleanupInterval = "cleanup_interval"
        }
    }

    struct Logging: Codable, Sendable {
        var level = "info"
        /// Megabytes per log file before it rotates.
        var rotationSize = 10
        var maxBackups = 5
        /// Log file; empty means `<data_dir>/logs/<role>.log`.
        var file = ""
        enum CodingKeys: String, CodingKey {
            case level, file
            case rotationSize = "rotation_size"
            case maxBackups = "max_backups"
        }
    }

    struct Gateway: Codable, Sendable {
        /// Bus id; empty means a random `gw-xxxxxxxx` per start.
        var id = ""
        /// Largest WebSocket message accepted from an agent (bytes).
        var maxFrameBytes = 1_048_576
        /// Seconds between WebSocket pings to each agent.
        var pingInterval = 30.0
        /// Seconds a new connection may take to say hello.
        var helloTimeout = 10.0
        /// Frames per second an agent session may send, and how many it may save up.
        var agentRate = 2.0
        var agentBurst = 30.0
        /// Callback replies per second per agent, and the burst.
        var callbackRate = 10.0
        var callbackBurst = 50.0
        /// Seconds an agent's clock may be off before its sample times are clamped.
        var maxClockSkew = 300.0
        enum CodingKeys: String, CodingKey {
            case id
            case maxFrameBytes = "max_frame_bytes"
            case pingInterval = "ping_interval"
            case helloTimeout = "hello_timeout"
            case agentRate = "agent_rate"
            case agentBurst = "agent_burst"
            case callbackRate = "callback_rate"
            case callbackBurst = "callback_burst"
            case maxClockSkew = "max_clock_skew"
        }
    }

    struct Worker: Codable, Sendable {
        /// Bus id; empty means a random `wk-xxxxxxxx` per start.
        var id = ""
    }

    struct Registry: Codable, Sendable {
        /// Seconds of silence after which a gateway or worker is considered gone.
        var peerTimeout = 5.0
        enum CodingKeys: String, CodingKey {
            case peerTimeout = "peer_timeout"
        }
    }

    /// How the registry replicates to gateways (issue 13).
    struct Replication: Codable, Sendable {
        /// Seconds between batches of the metrics feed: each agent's latest snapshot since the
        /// last batch (state changes are replicated at once, whatever this is).
        var metricsInterval = 1.0
        enum CodingKeys: String, CodingKey {
            case metricsInterval = "metrics_interval"
        }
    }

    struct Auth: Codable, Sendable {
        /// Off only for a lab: with it off anyone who can reach a gateway controls the fleet.
        var enabled = true
        /// Agents' enrollment token; empty = the file `<data_dir>/agent-token`.
        var agentToken = ""
        /// Admin API token; empty = the file `<data_dir>/admin-token`.
        var adminToken = ""
        /// Where `agent_token` is read from when it is empty; empty = `<data_dir>/agent-token`.
        /// A mounted secret (compose, Kubernetes) is a file, and a token in a file is not in
        /// `ps`, the environment of every child, or the orchestrator's inspect output.
        var agentTokenFile = ""
        /// Where `admin_token` is read from when it is empty; empty = `<data_dir>/admin-token`.
        var adminTokenFile = ""
        /// New agents wait as `pending` until `master agents approve ID` (registry).
        var approval = false
        /// Most agents that may enroll with `agent_token`; 0 = no limit (registry).
        var maxAgents = 0
        enum CodingKeys: String, CodingKey {
            case enabled, approval
            case agentToken = "agent_token"
            case adminToken = "admin_token"
            case agentTokenFile = "agent_token_file"
            case adminTokenFile = "admin_token_file"
            case maxAgents = "max_agents"
        }
    }

    struct Audit: Codable, Sendable {
        /// Seconds audit lines are kept (default 90 days), whatever callbacks.retention is.
        var retention = 7_776_000.0
    }

    struct Callbacks: Codable, Sendable {
        /// Seconds an attempt waits for the agent's reply before it is sent again.
        var timeout = 30.0
        /// Attempts before a request is `failed`.
        var attempts = 3
        /// Seconds a finished request stays queryable.
        var retention = 3600.0
        /// Largest file an agent may upload for a logs request, in bytes (256 MiB).
        var maxUpload = 268_435_456
        enum CodingKeys: String, CodingKey {
            case timeout, attempts, retention
            case maxUpload = "max_upload"
        }
    }

    struct Store: Codable, Sendable {
        /// false keeps the registry's state in memory only (lost on restart).
        var enabled = true
        /// SQLite file; empty = `<data_dir>/registry.sqlite`.
        var path = ""
        /// Seconds of metrics history and state transitions kept (default 7 days).
        var metricsRetention = 604_800.0
        /// The history's resolution: at most one snapshot per agent per this many seconds
        /// (0 = every heartbeat). At the default heartbeat (300 s) every beat is kept.
        var historyInterval = 60.0
        /// Rows waiting for the store (a slow or full disk) before the registry stops reading
        /// events, so that nothing is dropped.
        var maxPendingRows = 50_000
        /// Bytes of metrics history waiting likewise (memory stays bounded under overload).
        var maxPendingBytes = 16 * 1_048_576
        enum CodingKeys: String, CodingKey {
            case enabled, path
            case metricsRetention = "metrics_retention"
            case historyInterval = "history_interval"
            case maxPendingRows = "max_pending_rows"
            case maxPendingBytes = "max_pending_bytes"
        }
    }

    struct Metrics: Codable, Sendable {
        /// host:port where a registry or worker running alone serves /metrics; empty = off.
        /// Gateways (and `master serve`) always serve /metrics on the main port.
        var listen = ""
    }

    struct Alerts: Codable, Sendable {
        /// e.g. `{name: host-down, kind: offline, for: 120}`, `{name: cpu-hot, kind: cpu, above: 90, for: 300}`.
        var rules: [AlertRule] = []
        /// e.g. `{url: https://hooks.slack.com/services/..., format: slack}`; format `json` or `slack`.
        var webhooks: [Webhook] = []
        /// Seconds a notification is retried (exponential backoff from retry_base to retry_cap).
        var retryFor = 3600.0
        var retryBase = 1.0
        var retryCap = 60.0
        /// Seconds a resolved alert stays listed.
        var retention = 3600.0
        enum CodingKeys: String, CodingKey {
            case rules, webhooks, retention
            case retryFor = "retry_for"
            case retryBase = "retry_base"
            case retryCap = "retry_cap"
        }
    }

    var server = Server()
    var heartbeat = Heartbeat()
    var logging = Logging()
    var dataDir = "./data"
    /// Registry endpoints (the registry binds them, gateways and workers connect to them) and
    /// their CURVE keys. `master serve` ignores this and uses inproc:// endpoints.
    var bus = BusConfig()
    var gateway = Gateway()
    var worker = Worker()
    var registry = Registry()
    var replication = Replication()
    var auth = Auth()
    var callbacks = Callbacks()
    var store = Store()
    var metrics = Metrics()
    var alerts = Alerts()
    var audit = Audit()

    enum CodingKeys: String, CodingKey {
        case server, heartbeat, logging, bus, gateway, worker, registry, replication, auth, callbacks, store, metrics, alerts, audit
        case dataDir = "data_dir"
    }

    static let environmentPrefix = "FLEET_MASTER_"

    /// Checks values that decode fine but make no sense.
    func validate() throws {
        func fail(_ key: String, _ message: String) -> ConfigError {
            ConfigError(kind: .invalidValue, source: "configuration", key: key, message: message)
        }
        guard (0...65535).contains(server.port) else { throw fail("server.port", "must be 0...65535 (0 = any free port)") }
        guard server.wsPath.hasPrefix("/") else { throw fail("server.ws_path", "must start with /") }
        guard server.tls.cert.isEmpty == server.tls.key.isEmpty else {
            throw fail(server.tls.cert.isEmpty ? "server.tls.cert" : "server.tls.key", "server.tls.cert and server.tls.key go together: set both (PEM files) or neither")
        }
        guard server.tls.clientCA.isEmpty || server.tls.enabled else {
            throw fail("server.tls.client_ca", "client certificates need TLS: set server.tls.cert and server.tls.key too")
        }
        guard heartbeat.timeout >= 1 else { throw fail("heartbeat.timeout", "must be at least 1 second") }
        guard heartbeat.cleanupInterval >= 1 else { throw fail("heartbeat.cleanup_interval", "must be at least 1 second") }
        guard (0.01...60).contains(replication.metricsInterval) else {
            throw fail("replication.metrics_interval", "must be 0.01...60 seconds")
        }
        guard FleetLogging.level(logging.level) != nil else {
            throw fail("logging.level", "must be one of trace, debug, info, notice, warning, error, critical")
        }
        guard logging.rotationSize >= 1 else { throw fail("logging.rotation_size", "must be at least 1 (MB)") }
        guard logging.maxBackups >= 0 else { throw fail("logging.max_backups", "must be 0 or more") }
        for rule in alerts.rules where rule.for < 0 || rule.name.isEmpty || rule.name.contains(":") {
            throw fail("alerts.rules", "rule '\(rule.name)': needs a name without ':' and for >= 0")
        }
        for webhook in alerts.webhooks where !(webhook.url.hasPrefix("http://") || webhook.url.hasPrefix("https://")) {
            throw fail("alerts.webhooks", "'\(webhook.url)' is not an http(s) URL")
        }
        guard store.metricsRetention >= 60 else { throw fail("store.metrics_retention", "must be at least 60 seconds") }
        guard store.historyInterval >= 0, store.historyInterval <= 86_400 else { throw fail("store.history_interval", "must be 0...86400 seconds") }
        guard store.maxPendingRows >= 10 else { throw fail("store.max_pending_rows", "must be at least 10") }
        guard store.maxPendingBytes >= 65_536 else { throw fail("store.max_pending_bytes", "must be at least 65536") }
        guard callbacks.timeout > 0 else { throw fail("callbacks.timeout", "must be more than 0 seconds") }
        guard (1...100).contains(callbacks.attempts) else { throw fail("callbacks.attempts", "must be 1...100") }
        guard callbacks.maxUpload >= 1 else { throw fail("callbacks.max_upload", "must be at least 1 byte") }
        guard callbacks.retention >= 0 else { throw fail("callbacks.retention", "must be 0 or more seconds") }
        guard gateway.maxFrameBytes >= 1024 else { throw fail("gateway.max_frame_bytes", "must be at least 1024") }
        for (key, value) in [
            ("server.header_timeout", server.headerTimeout), ("server.idle_timeout", server.idleTimeout),
            ("server.read_timeout", server.readTimeout), ("gateway.agent_rate", gateway.agentRate),
            ("gateway.agent_burst", gateway.agentBurst), ("gateway.callback_rate", gateway.callbackRate),
            ("gateway.callback_burst", gateway.callbackBurst), ("gateway.max_clock_skew", gateway.maxClockSkew),
        ] where !(value > 0) {
            throw fail(key, "must be more than 0")
        }
        guard auth.maxAgents >= 0 else { throw fail("auth.max_agents", "must be 0 (no limit) or more") }
        guard audit.retention >= 86_400 else { throw fail("audit.retention", "must be at least 86400 seconds (one day)") }
        for (key, endpoint) in [
            ("bus.events", bus.events), ("bus.updates", bus.updates), ("bus.snapshot", bus.snapshot),
            ("bus.jobs_in", bus.jobsIn), ("bus.jobs_out", bus.jobsOut), ("bus.blobs", bus.blobs),
        ] where !["tcp://", "ipc://", "inproc://"].contains(where: endpoint.hasPrefix) {
            throw fail(key, "must be a ZeroMQ endpoint (tcp://host:port, ipc://path or inproc://name)")
        }
        let keyName = bus.curve.key
        guard keyName.isEmpty || (!keyName.hasPrefix(".") && keyName.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) })) else {
            throw fail("bus.curve.key", "must be a key file name without .key (letters, digits, . _ -), e.g. gateway-1")
        }
    }
}
