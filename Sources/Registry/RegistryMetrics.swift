import Bus
import FleetProtocol
import Metrics

/// The registry's Prometheus figures (through swift-metrics; `master` decides the backend).
/// Gauges of current state are refreshed once a second from the tables rather than on every
/// change, which keeps the event loop free of metric bookkeeping.
struct RegistryMetrics: Sendable {
    let callbackDuration = Timer(label: "fleet_registry_callback_duration_seconds", preferredDisplayUnit: .seconds)
    let malformedEvents = Counter(label: "fleet_registry_events_malformed_total")
    let duplicateReplies = Counter(label: "fleet_registry_duplicate_replies_total")
    /// Sessions announced by a gateway that the registry refused (wrong or revoked credential,
    /// an id taken, an enrollment token at its cap).
    let sessionsRefused = Counter(label: "fleet_registry_sessions_refused_total")
    /// Requests that reached the registry after the gateway that took them had given up
    /// waiting for the registry (and answered 503): recorded failed, never run.
    let requestsTooLate = Counter(label: "fleet_registry_requests_late_total")
    /// Gateways declared lost (silent past `registry.peer_timeout`); their agents become
    /// disconnected. Under overload this must stay 0 for gateways that are alive.
    let gatewaysLost = Counter(label: "fleet_registry_gateways_lost_total")

    /// A bus connection the ZAP handler refused (CURVE on): which socket, and why.
    func authRefused(socket: String, reason: String) {
        Counter(label: "fleet_bus_auth_refused_total", dimensions: [("socket", socket), ("reason", reason)]).increment()
    }

    /// An event whose kind the sender's role may not send (CURVE on).
    func eventRefused(kind: String, role: String) {
        Counter(label: "fleet_registry_events_refused_total", dimensions: [("kind", kind), ("role", role)]).increment()
    }

    func events(_ counts: [String: Int]) {
        for (kind, count) in counts {
            Counter(label: "fleet_registry_events_total", dimensions: [("kind", kind)]).increment(by: count)
        }
    }

    func finished(_ record: RequestRecord) {
        Counter(label: "fleet_registry_requests_finished_total", dimensions: [("kind", record.kind.rawValue), ("state", record.state.rawValue)])
            .increment()
        if record.state == .completed, let completed = record.completedAt {
            callbackDuration.recordNanoseconds(Int64(completed.timeIntervalSince(record.createdAt) * 1e9))
        }
    }

    /// Current-state gauges, from the tables and the sockets' counters.
    func refresh(agents: [AgentState: Int], requests: [RequestState: Int], gateways: Int, workers: Int, sockets: [(String, BusStatistics)]) {
        for state in AgentState.allCases {
            Gauge(label: "fleet_registry_agents", dimensions: [("state", state.rawValue)]).record(agents[state] ?? 0)
        }
        for state in RequestState.allCases {
            Gauge(label: "fleet_registry_requests", dimensions: [("state", state.rawValue)]).record(requests[state] ?? 0)
        }
        Gauge(label: "fleet_registry_peers", dimensions: [("role", "gateway")]).record(gateways)
        Gauge(label: "fleet_registry_peers", dimensions: [("role", "worker")]).record(workers)
        for (socket, stats) in sockets {
            Gauge(label: "fleet_bus_messages", dimensions: [("socket", socket), ("direction", "sent")]).record(Int64(stats.sent))
            Gauge(label: "fleet_bus_messages", dimensions: [("socket", socket), ("direction", "received")]).record(Int64(stats.received))
            Gauge(label: "fleet_bus_send_waits", dimensions: [("socket", socket)]).record(Int64(stats.sendRetries))
            Gauge(label: "fleet_bus_dropped", dimensions: [("socket", socket)]).record(Int64(stats.dropped))
        }
    }
}
