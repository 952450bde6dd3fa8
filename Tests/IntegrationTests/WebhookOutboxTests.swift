import FleetProtocol
import Foundation
import Testing

/// The webhook outbox survives a registry restart: an alert that fired while its receiver was
/// down is delivered by the next registry run once the receiver is back. (The new run does not
/// fire it again: the alert is already active in the store, so only the outbox can deliver it.)
@Suite("Webhook outbox", .serialized)
struct WebhookOutboxTests {
    @Test("receiver down, registry restarted while the alert waits, receiver back: the alert is delivered")
    func deliveredAcrossRestart() async throws {
        try await withCluster("webhook-outbox") { cluster in
            let (reservation, port) = try AlertTests().reservePort()
            defer { close(reservation) }
            let config = cluster.directory.appendingPathComponent("registry.yaml")
            try AlertTests.hostDownConfig(port: port).write(to: config, atomically: true, encoding: .utf8)
            let bus = try await cluster.startRegistry(["--config", config.path])
            let gateway = try await cluster.startGateway("gateway-a", bus: bus)
            let (agent, id) = try await cluster.startAgent("agent", urls: [gateway.ws])
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.agents(gateway).first { $0.id == id }?.state == .online })
            agent.signal(SIGKILL)

            // The registry has tried the receiver (so the notification is in its outbox) and failed.
            let registry = try #require(cluster.process(named: "registry"))
            #expect(await eventually(timeout: .seconds(20)) { registry.stderr.contains("webhook unreachable") }, "\(cluster.logs())")
            await registry.stop()
            #expect(!registry.stderr.contains("alert delivered"))
            _ = try await cluster.startRegistry(["--config", config.path], name: "registry-2", bus: bus)

            let received = cluster.directory.appendingPathComponent("received.jsonl")
            let script = cluster.directory.appendingPathComponent("receiver.py")
            try AlertTests.receiver.write(to: script, atomically: true, encoding: .utf8)
            let python3 = try #require(["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }, "python3 not found")
            _ = try cluster.start("receiver", python3, [script.path, "\(port)", received.path])

            func notifications() -> [(status: String, alert: String)] {
                let text = (try? String(contentsOf: received, encoding: .utf8)) ?? ""
                return text.split(separator: "\n").compactMap { line in
                    guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                        let status = object["status"] as? String, let alert = object["alert"] as? [String: Any], let alertId = alert["id"] as? String
                    else { return nil }
                    return (status, alertId)
                }
            }
            #expect(await eventually(timeout: .seconds(20)) { !notifications().isEmpty }, "\(cluster.logs())")
            // At least once; every notification is that alert firing (the agent stays dead).
            #expect(notifications().allSatisfy { $0.status == "firing" && $0.alert == "host-down:\(id)" }, "\(notifications())")
        }
    }
}
