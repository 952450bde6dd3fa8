import FleetProtocol
import Foundation
import Testing

/// A gateway's replica resyncs show on its /metrics: the figure that was only in /readyz JSON.
@Suite("Replica metrics", .serialized)
struct ReplicaMetricsTests {
    @Test("a registry restart makes the gateway's replica resync, and fleet_replica_resyncs_total{cause=\"epoch\"} counts it")
    func resyncCounted() async throws {
        try await withCluster("replica-metrics") { cluster in
            let bus = try await cluster.startRegistry()
            let gateway = try await cluster.startGateway("gateway-a", bus: bus)
            #expect(await eventually(timeout: .seconds(10)) { try await HTTP.get("\(gateway.http)/readyz").status == 200 })
            let before = try await cluster.metricsText(gateway)
            #expect(metricValue(before, "fleet_replica_resyncs_total") == 0, "no resync yet: \(before)")
            #expect(before.contains("fleet_replica_gaps_total 0"), "exported at 0 from the start")

            let registry = try #require(cluster.process(named: "registry"))
            await registry.stop()
            _ = try await cluster.startRegistry(name: "registry-2", bus: bus)
            // The new run's first beat carries a new epoch: one resync for that cause.
            #expect(await eventually(timeout: .seconds(15)) {
                metricValue(try await cluster.metricsText(gateway), "fleet_replica_resyncs_total", [#"cause="epoch""#]) >= 1
            }, "\(cluster.logs())")
            #expect(await eventually(timeout: .seconds(10)) { try await HTTP.get("\(gateway.http)/readyz").status == 200 })
        }
    }
}
