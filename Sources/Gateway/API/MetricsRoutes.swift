#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Bus
import FleetProtocol
import HTTPTypes
import Hummingbird
import NIOCore

/// Prometheus endpoints. `/metrics`: this process (roles, bus, process), open like /healthz:
/// counts and timings of the master itself, no agent's data. `/metrics/fleet`: every
/// agent's latest metrics from the replica, labelled by agent id and hostname, so Prometheus
/// and Grafana can take over fleet dashboards; it names every host and what runs on it, so it
/// needs a key (viewer or above; Prometheus sends it with `authorization: credentials`) and
/// shows the key's tenant only.
struct MetricsRoutes {
    let replica: CloneReplica
    let keys: KeyRing
    let metricsText: @Sendable () -> [UInt8]
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    func register(on router: Router<GatewayRequestContext>) {
        router.get("metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: Self.contentType], body: .init(byteBuffer: ByteBuffer(bytes: metricsText())))
        }
        router.group("metrics").add(middleware: ReplicaReadyMiddleware(replica: replica)).add(middleware: AuthMiddleware(keys: keys)).get("fleet") { _, context in
            let caller = try context.caller()
            let agents = replica.agents().filter { caller.sees($0) }
            return Response(status: .ok, headers: [.contentType: Self.contentType], body: .init(byteBuffer: ByteBuffer(string: Self.fleet(agents))))
        }
    }

    /// The fleet in Prometheus text format, one family at a time (as the format requires).
    static func fleet(_ agents: [AgentRecord]) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: [(String, String)], value: Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for sample in samples {
                let labels = sample.labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",")
                out += "\(name){\(labels)} \(format(sample.value))\n"
            }
        }
        func base(_ agent: AgentRecord) -> [(String, String)] { [("agent", agent.id), ("hostname", agent.hostname)] }
        family("fleet_agent_up", "gauge", "1 when the agent is online.", agents.map { (base($0), $0.state == .online ? 1 : 0) })
        family("fleet_agent_last_seen_timestamp_seconds", "gauge", "Last sign of life from the agent.", agents.map { (base($0), $0.lastSeen.timeIntervalSince1970) })
        let withMetrics = agents.compactMap { agent in agent.metrics.map { (agent, $0) } }
        family("fleet_agent_cpu_percent", "gauge", "Busy share of all cores over the last interval.",
               withMetrics.compactMap { agent, m in m.cpu.map { (base(agent), $0.totalPercent) } })
        family("fleet_agent_load1", "gauge", "One-minute load average.",
               withMetrics.compactMap { agent, m in m.cpu?.load1.map { (base(agent), $0) } })
        family("fleet_agent_memory_total_bytes", "gauge", "Physical memory.",
               withMetrics.compactMap { agent, m in m.memory.map { (base(agent), Double($0.totalBytes)) } })
        family("fleet_agent_memory_available_bytes", "gauge", "Memory available without swapping.",
               withMetrics.compactMap { agent, m in m.memory.map { (base(agent), Double($0.availableBytes)) } })
        family("fleet_agent_filesystem_used_percent", "gauge", "Used share of each real filesystem.",
               withMetrics.flatMap { agent, m in (m.filesystems ?? []).map { (base(agent) + [("mountpoint", $0.mountPoint)], $0.usedPercent) } })
        family("fleet_agent_network_receive_bytes_total", "counter", "Bytes received per interface.",
               withMetrics.flatMap { agent, m in (m.network ?? []).map { (base(agent) + [("interface", $0.name)], Double($0.rxBytes)) } })
        family("fleet_agent_network_transmit_bytes_total", "counter", "Bytes sent per interface.",
               withMetrics.flatMap { agent, m in (m.network ?? []).map { (base(agent) + [("interface", $0.name)], Double($0.txBytes)) } })
        family("fleet_agent_uptime_seconds", "gauge", "Host uptime.",
               withMetrics.compactMap { agent, m in m.uptimeSeconds.map { (base(agent), $0) } })
        return out
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
