import Bus

/// What a callback-worker needs to run; built by `master` from its configuration.
public struct WorkerSettings: Sendable {
    public var endpoints: BusEndpoints
    /// This worker's id in heartbeats and logs.
    public var workerId: String
    /// CURVE keys for the bus (`bus.curve.*`): this worker's keypair and the registry's key.
    public var security: BusSecurity

    public init(endpoints: BusEndpoints, workerId: String, security: BusSecurity = .none) {
        self.security = security
        self.endpoints = endpoints
        self.workerId = workerId
    }
}
