import Metrics

/// A gateway's or worker's bus sockets on its /metrics, in the families the registry already
/// exports for its own (`fleet_bus_messages`, `fleet_bus_send_waits`, `fleet_bus_dropped`),
/// so a heartbeat dropped at a gateway's HWM is seen where it happens. Socket names carry the
/// role (`gateway_events`, `worker_blobs`): the registry's `events` is the other end of a
/// gateway's `gateway_events`, and one process may run several roles.
public enum BusSocketMetrics {
    /// Records the sockets' cumulative counters (gauges, like the registry's: the families
    /// exist already and keep their names until they are renamed together).
    public static func record(_ sockets: [(name: String, statistics: BusStatistics)]) {
        for (socket, stats) in sockets {
            Gauge(label: "fleet_bus_messages", dimensions: [("socket", socket), ("direction", "sent")]).record(Int64(stats.sent))
            Gauge(label: "fleet_bus_messages", dimensions: [("socket", socket), ("direction", "received")]).record(Int64(stats.received))
            Gauge(label: "fleet_bus_send_waits", dimensions: [("socket", socket)]).record(Int64(stats.sendRetries))
            Gauge(label: "fleet_bus_dropped", dimensions: [("socket", socket)]).record(Int64(stats.dropped))
        }
    }
}
