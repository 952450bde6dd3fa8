import Bus
import FleetProtocol

/// `bus.*` in master.yaml: where the registry's sockets are (the six endpoint keys, as
/// before), and how they are protected.
struct BusConfig: Codable, Sendable {
    var events = "tcp://127.0.0.1:5701"
    var updates = "tcp://127.0.0.1:5702"
    var snapshot = "tcp://127.0.0.1:5703"
    var jobsIn = "tcp://127.0.0.1:5704"
    var jobsOut = "tcp://127.0.0.1:5705"
    var blobs = "tcp://127.0.0.1:5706"
    /// true lets a tcp:// bus on a non-loopback address run without CURVE keys: only for a
    /// network where every host that can reach the bus is trusted with the whole fleet.
    var insecure = false
    var curve = Curve()

    /// `bus.curve.*`: CurveZMQ keys made by `master keys generate`.
    struct Curve: Codable, Sendable {
        /// The keys directory; empty = no CURVE. The registry reads its own `registry.key`
        /// and admits every `gateway*.pub` and `worker*.pub` there; a gateway or worker
        /// reads its own `.key` and `registry.pub`.
        var dir = ""
        /// Which keypair of `dir` this process uses (the file name without `.key`); empty =
        /// `registry` for the registry, the only `gateway*.key` / `worker*.key` otherwise.
        var key = ""
    }

    enum CodingKeys: String, CodingKey {
        case events, updates, snapshot, blobs, insecure, curve
        case jobsIn = "jobs_in"
        case jobsOut = "jobs_out"
    }

    var endpoints: BusEndpoints {
        BusEndpoints(events: events, updates: updates, snapshot: snapshot, jobsIn: jobsIn, jobsOut: jobsOut, blobs: blobs)
    }

    /// Each endpoint with its configuration key, for messages.
    var keyedEndpoints: [(key: String, socket: BusSocket, endpoint: String)] {
        [
            ("bus.events", .events, events), ("bus.updates", .updates, updates), ("bus.snapshot", .snapshot, snapshot),
            ("bus.jobs_in", .jobsIn, jobsIn), ("bus.jobs_out", .jobsOut, jobsOut), ("bus.blobs", .blobs, blobs),
        ]
    }
}
