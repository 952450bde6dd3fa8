/// Where the master's roles meet. The registry binds every endpoint; gateways and workers
/// connect. With `tcp://` the roles can be separate processes or hosts; `master serve` uses
/// `inproc://` inside one process. The same code runs either way.
///
/// ```
/// gateway --PUSH events---------------> [PULL events]   registry
/// gateway <--SUB  (seq'd updates)------ [PUB updates]    registry
/// gateway --DEALER snapshot-----------> [ROUTER snapshot] registry
/// gateway --PUSH jobs--> [PULL jobs_in | streamer | PUSH jobs_out] registry
///                                   worker --PULL jobs_out; worker --PUSH events
///                                   worker --PUSH blobs--> [PULL blobs] registry (file contents)
/// ```
public struct BusEndpoints: Codable, Sendable, Equatable {
    public var events: String
    public var updates: String
    public var snapshot: String
    public var jobsIn: String
    public var jobsOut: String
    /// File contents (log uploads) from workers to the registry's store, in bounded chunks.
    public var blobs: String

    public init(events: String, updates: String, snapshot: String, jobsIn: String, jobsOut: String, blobs: String) {
        self.events = events
        self.updates = updates
        self.snapshot = snapshot
        self.jobsIn = jobsIn
        self.jobsOut = jobsOut
        self.blobs = blobs
    }

    /// The single-process layout used by `master serve`.
    public static func inproc(_ name: String = "fleet") -> BusEndpoints {
        BusEndpoints(
            events: "inproc://\(name).events", updates: "inproc://\(name).updates",
            snapshot: "inproc://\(name).snapshot", jobsIn: "inproc://\(name).jobs-in",
            jobsOut: "inproc://\(name).jobs-out", blobs: "inproc://\(name).blobs"
        )
    }

    enum CodingKeys: String, CodingKey {
        case events, updates, snapshot, blobs
        case jobsIn = "jobs_in"
        case jobsOut = "jobs_out"
    }
}
