import AsyncHTTPClient
import FleetProtocol
import Foundation
import NIOCore
import Topology

/// The orchestrator's view of the master: its admin API and its Prometheus text.
struct MasterClient: Sendable {
    let http: HTTPClient
    let topology: Topology

    /// `POST /api/v1/agents/{id}/callbacks` on `gateway`; with `wait`, returns when the request
    /// is final. Returns the HTTP status and the request record, if one came back.
    func callback(agent: String, kind: String, args: String = "{}", wait: Int?, gateway: RoleProcess) async throws -> (Int, RequestRecord?) {
        let query = wait.map { "?wait=\($0)" } ?? ""
        var request = HTTPClientRequest(url: "\(gateway.http ?? "")/api/v1/agents/\(agent)/callbacks\(query)")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(topology.adminToken)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"kind":"\#(kind)","args":\#(args)}"#))
        let response = try await http.execute(request, timeout: .seconds(Int64((wait ?? 10) + 30)))
        let body = try await response.body.collect(upTo: 64 << 20)
        let record = try? FleetJSON.decode(RequestRecord.self, from: body.readableBytesView)
        return (Int(response.status.code), record)
    }

    /// The value of one sample in a role's /metrics, matched by name and label set (label order
    /// in the text does not matter); 0 when the series does not exist yet.
    func metric(_ role: RoleProcess, _ name: String, labels: [String: String] = [:]) async throws -> Double {
        guard let url = role.metricsURL else { throw BenchError("\(role.name) serves no metrics") }
        let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let text = String(buffer: try await response.body.collect(upTo: 64 << 20))
        for line in text.split(separator: "\n") where line.hasPrefix(name) && !line.hasPrefix("#") {
            let rest = line.dropFirst(name.count)
            var found: [String: String] = [:]
            var valueText = rest
            if rest.first == "{" {
                guard let close = rest.firstIndex(of: "}") else { continue }
                for pair in rest[rest.index(after: rest.startIndex)..<close].split(separator: ",") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    if parts.count == 2 { found[String(parts[0])] = String(parts[1].dropFirst().dropLast()) }
                }
                valueText = rest[rest.index(after: close)...]
            } else if rest.first != " " {
                continue
            }
            guard found == labels, let value = Double(valueText.split(separator: " ").first ?? "") else { continue }
            return value
        }
        return 0
    }

    /// The process whose /metrics carries the registry's figures.
    var registryRole: RoleProcess { topology.registry ?? topology.gateways[0] }

    func heartbeatsApplied() async throws -> Double {
        try await metric(registryRole, "fleet_registry_events_total", labels: ["kind": "session.heartbeat"])
    }

    func agentsOnline() async throws -> Int {
        Int(try await metric(registryRole, "fleet_registry_agents", labels: ["state": "online"]))
    }

    func requestsFinished(kind: String, state: String = "completed") async throws -> Int {
        Int(try await metric(registryRole, "fleet_registry_requests_finished_total", labels: ["kind": kind, "state": state]))
    }
}
