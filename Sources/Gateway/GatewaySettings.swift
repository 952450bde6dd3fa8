import Bus
import NIOSSL

/// What the gateway role needs to run; built by `master` from its configuration.
public struct GatewaySettings: Sendable {
    /// Bus endpoints of the registry to connect to.
    public var endpoints: BusEndpoints
    /// CURVE keys for the bus (`bus.curve.*`): this gateway's keypair and the registry's key.
    public var security: BusSecurity
    /// HTTP listen address (`server.host`, `server.port`; port 0 picks a free one).
    public var host: String
    public var port: Int
    /// Agent WebSocket path (`server.ws_path`, default `/ws`).
    public var wsPath: String
    /// This gateway's id on the bus; commands for its agents arrive on topic `gw.<id>`.
    public var gatewayId: String
    /// Largest WebSocket message accepted from an agent, in bytes.
    public var maxFrameBytes: Int
    /// WebSocket ping period: how fast a silently dead agent connection is found.
    public var pingInterval: Duration
    /// How long a new connection may take to say hello.
    public var helloTimeout: Duration
    /// Accepted bearer tokens (agents on the WebSocket, operators on the admin API).
    public var tokens: GatewayTokens
    /// Largest file an agent may upload (`callbacks.max_upload`); larger is 413.
    public var maxUploadBytes: Int
    /// Limits against floods and slow clients (`server.*_timeout`, `gateway.agent_*`).
    public var limits: GatewayLimits
    /// The process's metrics in Prometheus text format, served at `/metrics` (the backend is
    /// chosen by `master`; in `master serve` it covers all three roles).
    public var metricsText: @Sendable () -> [UInt8]
    /// With a configuration the gateway serves HTTPS and WSS only (`server.tls.*`, already read
    /// and checked by `TLSSettings.server`); nil serves plain HTTP and WS.
    public var tls: TLSConfiguration?

    public init(
        endpoints: BusEndpoints, host: String = "0.0.0.0", port: Int = 8080, wsPath: String = "/ws",
        gatewayId: String, maxFrameBytes: Int = 1_048_576, pingInterval: Duration = .seconds(30),
        helloTimeout: Duration = .seconds(10), tokens: GatewayTokens, maxUploadBytes: Int = 256 * 1_048_576,
        limits: GatewayLimits = GatewayLimits(), metricsText: @escaping @Sendable () -> [UInt8] = { [] },
        tls: TLSConfiguration? = nil, security: BusSecurity = .none
    ) {
        self.limits = limits
        self.security = security
        self.metricsText = metricsText
        self.tls = tls
        self.tokens = tokens
        self.maxUploadBytes = maxUploadBytes
        self.endpoints = endpoints
        self.host = host
        self.port = port
        self.wsPath = wsPath
        self.gatewayId = gatewayId
        self.maxFrameBytes = maxFrameBytes
        self.pingInterval = pingInterval
        self.helloTimeout = helloTimeout
    }
}

/// How much a client may ask of a gateway, and how slowly (issue 10, "Limits").
public struct GatewayLimits: Sendable {
    /// A new connection must have sent a whole request head within this (no request at all,
    /// or headers trickled a byte at a time, slowloris): `server.header_timeout`.
    public var headerTimeout: Duration
    /// An HTTP connection idle between requests is closed after this (`server.idle_timeout`).
    public var idleTimeout: Duration
    /// A request body that stops arriving for this long is abandoned (`server.read_timeout`).
    public var readTimeout: Duration
    /// Frames per second an agent session may send, and how many it may save up
    /// (`gateway.agent_rate`, `gateway.agent_burst`); past it frames are dropped and the
    /// agent is told (`rate_limited`).
    public var agentRate: Double
    public var agentBurst: Double
    /// Callback replies per second per agent (`gateway.callback_rate`); past it 429.
    public var callbackRate: Double
    public var callbackBurst: Double
    /// Agents' sample times further than this from the gateway's clock are clamped to it
    /// (`gateway.max_clock_skew`): a host with a wrong clock cannot write history into the
    /// future or the distant past.
    public var maxClockSkew: Double
    /// How long a session that enrolls waits for the registry to confirm its credential.
    public var enrollmentTimeout: Duration

    public init(
        headerTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(60), readTimeout: Duration = .seconds(30),
        agentRate: Double = 2, agentBurst: Double = 30, callbackRate: Double = 10, callbackBurst: Double = 50,
        maxClockSkew: Double = 300, enrollmentTimeout: Duration = .seconds(5)
    ) {
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        self.readTimeout = readTimeout
        self.agentRate = agentRate
        self.agentBurst = agentBurst
        self.callbackRate = callbackRate
        self.callbackBurst = callbackBurst
        self.maxClockSkew = maxClockSkew
        self.enrollmentTimeout = enrollmentTimeout
    }
}
