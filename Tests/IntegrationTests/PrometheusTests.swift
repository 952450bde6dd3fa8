import Foundation
import Spawn
import Testing

/// Every role's /metrics and the fleet endpoint pass `promtool check metrics` (Debian's
/// prometheus package, installed by .ci/install-deps).
@Suite("Prometheus endpoints", .serialized)
struct PrometheusTests {
    /// Runs promtool on `text`; returns its exit status and complaints.
    func promtool(_ text: String) async throws -> (status: Int32, output: String) {
        let result = try await ChildProcess.run("/usr/bin/promtool", ["check", "metrics"], input: text)
        return (result.termination.status, result.output)
    }

    func scrape(_ url: String, token: String? = nil) async throws -> String {
        let (status, body) = try await HTTP.get(url, token: token)
        guard status == 200 else { throw HarnessError("\(url): HTTP \(status)") }
        return String(decoding: body, as: UTF8.self)
    }

    @Test("split topology: gateway, registry and worker /metrics and the fleet endpoint are promtool-clean and carry their figures")
    func everyRole() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool"), "promtool missing: run bash .ci/install-deps")
        try await withCluster("prometheus") { cluster in
            let bus = try await cluster.startRegistry(["--set", "metrics.listen=127.0.0.1:0"])
            let registryProcess = try #require(cluster.process(named: "registry"))
            let registryMetrics = try #require(try await cluster.ready(registryProcess, file: "registry.json").metrics)
            let gateway = try await cluster.startGateway("gateway-a", bus: bus)
            let worker = try cluster.start("worker", "master", ["worker", "--ready-file", "worker.json", "--set", "data_dir=worker", "--set", "metrics.listen=127.0.0.1:0"] + Cluster.busArguments(bus))
            let workerMetrics = try #require(try await cluster.ready(worker, file: "worker.json").metrics)
            let (_, id) = try await cluster.startAgent("agent", urls: [gateway.ws])
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.states(gateway)[id] == .online })
            let (status, _) = try await cluster.callback(gateway, agent: id, kind: "status", wait: 20)
            #expect(status == 200)

            // Gauges refresh every second: wait until the registry's shows the agent.
            #expect(await eventually(timeout: .seconds(5)) { try await scrape(registryMetrics).contains(#"fleet_registry_agents{state="online"} 1"#) })
            let expectations: [(String, [String])] = [
                (registryMetrics, [
                    "fleet_registry_requests_finished_total", "fleet_registry_callback_duration_seconds_bucket", "fleet_bus_messages", "process_resident_memory_bytes",
                    "fleet_registry_store_errors_total 0", "fleet_registry_store_healthy 1", "fleet_registry_store_pending_rows", "fleet_registry_store_corrupt_total 0",
                ]),
                (
                    "\(gateway.http)/metrics",
                    [
                        "fleet_gateway_sessions 1", "fleet_gateway_frames_total", "process_cpu_seconds_total", "fleet_replica_gaps_total",
                        "fleet_replica_missed_updates_total", #"fleet_bus_dropped{socket="gateway_events"}"#,
                    ]
                ),
                (
                    workerMetrics,
                    [#"fleet_worker_jobs_total{kind="status",result="ok"} 1"#, "fleet_worker_job_duration_seconds_count", #"fleet_bus_dropped{socket="worker_events"}"#]
                ),
                ("\(gateway.http)/metrics/fleet", [#"fleet_agent_up{agent="\#(id)""#, "fleet_agent_memory_total_bytes", "fleet_agent_network_receive_bytes_total"]),
            ]
            // The fleet endpoint names every host: it needs a key (and refuses without one).
            #expect(try await HTTP.get("\(gateway.http)/metrics/fleet").status == 401)
            var scraped = ""
            for (url, families) in expectations {
                let text = try await scrape(url, token: url.hasSuffix("/metrics/fleet") ? cluster.adminToken : nil)
                scraped += text
                let (status, complaints) = try await promtool(text)
                #expect(status == 0, "\(url): \(complaints)")
                for family in families {
                    #expect(text.contains(family), "\(url) lacks \(family)")
                }
            }

            // The alerting rules we ship are valid and name only series the roles really export.
            let rules = Self.root.appendingPathComponent("docs/prometheus/alerts.yml").path
            let checked = try await ChildProcess.run("/usr/bin/promtool", ["check", "rules", rules])
            #expect(checked.termination == .exited(0), "\(checked.output)")
            let yaml = try String(contentsOfFile: rules, encoding: .utf8)
            let named = Set(yaml.matches(of: /fleet_[a-z_]+/).map { String($0.output) })
            #expect(!named.isEmpty)
            for series in named.sorted() {
                #expect(scraped.contains("\n\(series)") || scraped.contains("\n\(series){"), "docs/prometheus/alerts.yml names \(series), which no role exports")
            }
        }
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}
