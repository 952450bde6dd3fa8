import Bus

/// What a callback-worker needs to run; built by `master` from its configuration.
public struct WorkerSettings: Sendable {
    public var endpoints: BusEndpoints
    /// This worker's id in heartbeats and logs.
    public var workerId: String

    public init(endpoints: BusEndpoints, workerId: String) {
        self.endpoints = endpoints
        self.workerId = workerId
    }
}
