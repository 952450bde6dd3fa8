import Bus
import FleetProtocol
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the registry role needs to run; built by `master` from its configuration.
public struct RegistrySettings: Sendable {
    /// Endpoints to bind (`tcp://0.0.0.0:5701`, `tcp://127.0.0.1:*` for a free port, `inproc://...`).
    public var endpoints: BusEndpoints
    /// No heartbeat for this long -> `offline` (seed key `heartbeat.timeout`, default 600 s).
    public var heartbeatTimeout: Duration
    /// How often the offline sweep runs (seed key `heartbeat.cleanup_interval`, default 300 s).
    public var cleanupInterval: Duration
    /// A gateway or worker silent this long is considered gone.
    public var peerTimeout: Duration
    /// Period of the Clone HUGZ beat.
    public var hugzInterval: Duration
    /// Period of the metrics feed's batches (`replication.metrics_interval`, default 1 s).
    public var metricsInterval: Duration = .seconds(1)
    /// Callback attempts, timeouts and retention (`callbacks.*`).
    public var requests: RequestTable.Settings
    /// The SQLite file; nil keeps everything in memory (tests, throwaway runs).
    public var storePath: String?
    /// How long metrics history and state transitions are kept (`store.metrics_retention`).
    public var metricsRetention: TimeInterval
    /// The history's resolution in seconds (`store.history_interval`, default 60; 0 = every
    /// heartbeat): at most one stored snapshot per agent per interval.
    public var historyInterval: Double = 60
    /// Rows that may wait for the store before the registry stops reading events
    /// (`store.max_pending_rows`; see `StoreWriter.maxPendingRows`).
    public var storeMaxPendingRows = StoreWriter.defaultMaxPendingRows
    /// Bytes of history that may wait likewise (`store.max_pending_bytes`).
    public var storeMaxPendingBytes = StoreWriter.defaultMaxPendingBytes
    /// The secret reply tokens are derived from; nil = random per run (tokens of requests in
    /// flight across a restart then no longer match, and those requests fail at their deadline).
    public var replySecret: [UInt8]?
    /// Alert rules and where notifications go (`alerts.*`).
    public var alerts: AlertSettings
    /// Authentication of agent sessions: on/off, approval mode, the bootstrap token's cap (`auth.*`).
    public var access: AccessTable.Settings
    /// How long audit lines are kept (`audit.retention`, default 90 days).
    public var auditRetention: TimeInterval
    /// CURVE keys for the bus (`bus.curve.*`): with them every socket is a CURVE server that
    /// admits only the listed peer keys, and events are checked against the sender's role.
    public var security: BusSecurity

    public init(
        endpoints: BusEndpoints, heartbeatTimeout: Duration = .seconds(600), cleanupInterval: Duration = .seconds(300),
        peerTimeout: Duration = .seconds(5), hugzInterval: Duration = .seconds(1),
        requests: RequestTable.Settings = .init(), storePath: String? = nil, metricsRetention: TimeInterval = 7 * 86_400,
        replySecret: [UInt8]? = nil, alerts: AlertSettings = AlertSettings(),
        access: AccessTable.Settings = .init(), auditRetention: TimeInterval = 90 * 86_400, security: BusSecurity = .none
    ) {
        self.access = access
        self.auditRetention = auditRetention
        self.security = security
        self.alerts = alerts
        self.requests = requests
        self.storePath = storePath
        self.metricsRetention = metricsRetention
        self.replySecret = replySecret
        self.endpoints = endpoints
        self.heartbeatTimeout = heartbeatTimeout
        self.cleanupInterval = cleanupInterval
        self.peerTimeout = peerTimeout
        self.hugzInterval = hugzInterval
    }
}

/// `alerts.*` from master.yaml.
public struct AlertSettings: Sendable {
    public var rules: [AlertRule]
    public var webhooks: [Webhook]
    /// How long a notification is retried before it is given up, in seconds.
    public var retryFor: Double
    public var retryBase: Double
    public var retryCap: Double
    /// Resolved alerts stay listed this long, in seconds.
    public var retention: Double

    public init(rules: [AlertRule] = [], webhooks: [Webhook] = [], retryFor: Double = 3600, retryBase: Double = 1, retryCap: Double = 60, retention: Double = 3600) {
        self.rules = rules
        self.webhooks = webhooks
        self.retryFor = retryFor
        self.retryBase = retryBase
        self.retryCap = retryCap
        self.retention = retention
    }
}
