import Foundation
import Metrics
import Prometheus

/// The master's metrics backend: swift-metrics -> swift-prometheus, plus process figures
/// read from /proc at scrape time. Gateways serve the text at `/metrics`; a registry or
/// worker running alone serves it on `metrics.listen` (RoleSupport.metricsListener).
enum Telemetry {
    static let registry = PrometheusCollectorRegistry()

    /// Installs the Prometheus backend. Call once, before any role starts.
    static func bootstrap() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30),
        ]
        MetricsSystem.bootstrap(factory)
    }

    /// Everything, in Prometheus text format.
    static func text() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return Array(withHelp(String(decoding: buffer, as: UTF8.self)).utf8) + Array(processText().utf8)
    }

    /// What each metric means. swift-metrics has no place for help text, so it is added to the
    /// exposition here, before each family's TYPE line (promtool wants it, and so do people).
    static let help: [String: String] = [
        "fleet_registry_agents": "Agents known to the registry, by state.",
        "fleet_registry_requests": "Callback requests in the registry's table, by state.",
        "fleet_registry_requests_finished_total": "Callback requests that finished, by kind and outcome.",
        "fleet_registry_callback_duration_seconds": "Time from a callback request to its completed result.",
        "fleet_registry_events_total": "Bus events the registry applied, by kind.",
        "fleet_registry_events_malformed_total": "Bus events the registry could not decode.",
        "fleet_registry_duplicate_replies_total": "Agent replies that arrived after a request had finished (ignored).",
        "fleet_registry_peers": "Gateways and callback-workers heard from, by role.",
        "fleet_bus_messages": "Messages through each of the registry's bus sockets, by direction (cumulative).",
        "fleet_bus_send_waits": "Sends that found the socket's high-water mark reached and waited (cumulative).",
        "fleet_bus_dropped": "Messages given up at a socket's high-water mark by this process (cumulative). PUB drops are not seen here: see fleet_replica_missed_updates_total.",
        "fleet_replica_resyncs_total": "Snapshots this gateway's replica asked for again after its first, by cause (gap, epoch, timeout, overflow).",
        "fleet_replica_gaps_total": "Breaks in the registry's update sequence seen by this gateway's replica.",
        "fleet_replica_missed_updates_total": "Registry updates this gateway's replica never received (dropped by the registry's PUB at its high-water mark), from the sequence numbers.",
        "fleet_gateway_callbacks_undelivered_total": "Callback requests this gateway could not hand to the agent, by reason (the registry re-sends them).",
        "fleet_worker_results_undelivered_total": "Processed replies a worker could not send to the registry.",
        "fleet_registry_webhooks_delivered_total": "Alert notifications a webhook accepted (2xx).",
        "fleet_registry_webhooks_dropped_total": "Alert notifications that will not be delivered, by reason (overflow, given_up, unconfigured).",
        "fleet_bus_auth_refused_total": "Bus connections the registry's ZAP handler refused (CURVE on), by socket and reason.",
        "fleet_registry_events_refused_total": "Bus events refused because the sender's role may not send that kind (CURVE on).",
        "fleet_gateway_sessions": "Agent WebSocket sessions open on this gateway.",
        "fleet_gateway_frames_total": "Frames received from agents, by type.",
        "fleet_gateway_sessions_refused_total": "Agent connections refused, by reason.",
        "fleet_gateway_upload_bytes_total": "Bytes of files uploaded by agents through this gateway.",
        "fleet_worker_jobs_total": "Agent replies processed, by callback kind and result.",
        "fleet_worker_job_duration_seconds": "Time a worker spent on one reply.",
        "fleet_worker_chunk_bytes_total": "Bytes of uploaded files passed on to the registry's store.",
    ]

    static func withHelp(_ text: String) -> String {
        var out: [Substring] = []
        var previous: Substring = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# TYPE "), !previous.hasPrefix("# HELP ") {
                let name = line.dropFirst("# TYPE ".count).split(separator: " ").first.map(String.init) ?? ""
                out.append(Substring("# HELP \(name) \(help[name] ?? "fleet metric \(name).")"))
            }
            out.append(line)
            previous = line
        }
        return out.joined(separator: "\n")
    }

    /// The standard process_* families (as Prometheus client libraries export them).
    static func processText() -> String {
        var out = ""
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let fields = stat.split(separator: ")").last?.split(separator: " "), fields.count > 20,
            let user = Double(fields[11]), let system = Double(fields[12]), let startTicks = Double(fields[19])
        {
            out += "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\n"
            out += "process_cpu_seconds_total \((user + system) / ticks)\n"
            if let uptime = (try? String(contentsOfFile: "/proc/uptime", encoding: .utf8))?.split(separator: " ").first.flatMap({ Double($0) }) {
                let started = Date().timeIntervalSince1970 - uptime + startTicks / ticks
                out += "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\n"
                out += "process_start_time_seconds \(Int64(started))\n"
            }
        }
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kb = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        {
            out += "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\n"
            out += "process_resident_memory_bytes \(Int64(kb * 1024))\n"
        }
        if let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            out += "# HELP process_open_fds Number of open file descriptors.\n# TYPE process_open_fds gauge\n"
            out += "process_open_fds \(fds.count)\n"
        }
        return out
    }

    struct ValidationFailure: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }
}
