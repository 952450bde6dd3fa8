import Bus

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
    /// The process's metrics in Prometheus text format, served at `/metrics` (the backend is
    /// chosen by `master`; in `master serve` it covers all three roles).
    public var metricsText: @Sendable () -> [UInt8]

    public init(
        endpoints: BusEndpoints, host: String = "0.0.0.0", port: Int = 8080, wsPath: String = "/ws",
        gatewayId: String, maxFrameBytes: Int = 1_048_576, pingInterval: Duration = .seconds(30),
        helloTimeout: Duration = .seconds(10), tokens: GatewayTokens, maxUploadBytes: Int = 256 * 1_048_576,
        metricsText: @escaping @Sendable () -> [UInt8] = { [] }, security: BusSecurity = .none
    ) {
        self.security = security
        self.metricsText = metricsText
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
