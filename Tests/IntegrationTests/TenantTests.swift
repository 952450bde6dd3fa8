import FleetProtocol
import Foundation
import Testing

/// Tenants (issue 10 item 6): every key of one tenant sees only that tenant's agents and what
/// belongs to them, on every read the API has — proven by walking every GET route of
/// docs/openapi.yaml with both tenants' keys.
@Suite("Tenants", .serialized)
struct TenantTests {
    struct Side {
        var name: String
        var key: (id: String, secret: String)
        var enrollment: (id: String, secret: String)
        var agent = ""
        var requests: [String] = []
        var logsRequest = ""
    }

    /// The GET paths of the contract, from docs/openapi.yaml.
    static func getPaths() throws -> [String] {
        let spec = try String(contentsOfFile: OpenAPITests.specPath, encoding: .utf8)
        var paths: [String] = []
        var current: String?
        for line in spec.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  /"), line.hasSuffix(":") { current = String(line.dropFirst(2).dropLast()) }
            if line == "    get:", let current { paths.append(current) }
        }
        return paths
    }

    @Test("a tenant's key never sees another tenant's agent, request, alert, key or audit line, on any GET route or the event stream")
    func isolation() async throws {
        try await withCluster("tenants") { cluster in
            let config = cluster.directory.appendingPathComponent("master.yaml")
            // An alert that fires for every online agent, so the alert list has both tenants.
            try "alerts:\n  rules:\n    - {name: always, kind: cpu, above: -1, for: 0}\n".write(to: config, atomically: true, encoding: .utf8)
            let master = try await cluster.startServe(["--config", config.path])
            var sides = [
                Side(
                    name: "team-a", key: try await cluster.makeKey(master, role: "admin", name: "admin-a", tenant: "team-a"),
                    enrollment: try await cluster.makeKey(master, role: "enrollment", name: "enroll-a", tenant: "team-a")
                ),
                Side(
                    name: "team-b", key: try await cluster.makeKey(master, role: "admin", name: "admin-b", tenant: "team-b"),
                    enrollment: try await cluster.makeKey(master, role: "enrollment", name: "enroll-b", tenant: "team-b")
                ),
            ]
            for index in sides.indices {
                let (_, id) = try await cluster.startAgent(
                    "agent-\(sides[index].name)", urls: [master.ws], extra: ["--set", "master.token=\(sides[index].enrollment.secret)"]
                )
                sides[index].agent = id
            }
            #expect(await eventually(timeout: .seconds(10)) {
                let agents = try await cluster.agents(master)
                return sides.allSatisfy { side in agents.contains { $0.id == side.agent && $0.state == .online && $0.tenant == side.name } }
            }, "\(cluster.logs())")
            // Each tenant's admin asks its own agent for something (and cannot reach the other's).
            for index in sides.indices {
                let me = sides[index], other = sides[1 - index]
                for kind in ["status", "logs"] {
                    let (status, body) = try await cluster.call(
                        "POST", "\(master.http)/api/v1/agents/\(me.agent)/callbacks?wait=20", token: me.key.secret, body: #"{"kind":"\#(kind)"}"#
                    )
                    #expect(status == 200, "\(kind): \(String(decoding: body, as: UTF8.self))")
                    let record = try FleetJSON.decoder().decode(RequestRecord.self, from: body)
                    #expect(record.state == .completed && record.tenant == me.name)
                    sides[index].requests.append(record.id)
                    if kind == "logs" { sides[index].logsRequest = record.id }
                }
                let (cross, _) = try await cluster.call(
                    "POST", "\(master.http)/api/v1/agents/\(other.agent)/callbacks", token: me.key.secret, body: #"{"kind":"status"}"#
                )
                #expect(cross == 404, "another tenant's agent does not exist for this key")
            }
            #expect(await eventually(timeout: .seconds(10)) {
                let (_, body) = try await HTTP.get("\(master.http)/api/v1/alerts", token: cluster.adminToken)
                let text = String(decoding: body, as: UTF8.self)
                return sides.allSatisfy { text.contains($0.agent) }
            }, "both tenants' agents have a firing alert")

            let paths = try Self.getPaths()
            #expect(paths.count >= 14 && paths.contains("/api/v1/audit") && paths.contains("/metrics/fleet"), "\(paths)")
            for index in sides.indices {
                let me = sides[index], other = sides[1 - index]
                // Everything that names the other tenant (its agent, requests, keys) must be absent.
                let foreign = [other.agent, other.enrollment.id, other.key.id] + other.requests
                for template in paths where template != "/api/v1/events" {
                    var probes: [(path: String, mine: Bool)] = []
                    if template.hasPrefix("/api/v1/agents/{id}") {
                        probes = [(template.replacingOccurrences(of: "{id}", with: me.agent), true),
                                  (template.replacingOccurrences(of: "{id}", with: other.agent), false)]
                    } else if template.hasPrefix("/api/v1/requests/{id}") {
                        probes = [(template.replacingOccurrences(of: "{id}", with: me.logsRequest), true),
                                  (template.replacingOccurrences(of: "{id}", with: other.logsRequest), false)]
                    } else {
                        #expect(!template.contains("{"), "a GET route this test does not know how to fill: \(template)")
                        probes = [(template, true)]
                    }
                    for probe in probes {
                        let (status, body) = try await HTTP.get(master.http + probe.path, token: me.key.secret)
                        let text = String(decoding: body, as: UTF8.self)
                        if probe.mine {
                            #expect(status == 200, "\(me.name) GET \(probe.path): \(status) \(text.prefix(300))")
                        } else {
                            // Exactly what an id that does not exist gets (it may repeat the id asked for).
                            #expect(status == 404, "\(me.name) GET \(probe.path) (the other tenant's): \(status) \(text.prefix(300))")
                            #expect(try FleetJSON.decoder().decode(APIErrorBody.self, from: body).error.code == "not_found")
                            continue
                        }
                        if template == "/api/v1/audit" {
                            // The key's own lines only; its attempts on the other tenant's ids (404)
                            // are its own doing and stay in its log, nothing the other tenant did.
                            let entries = try FleetJSON.decoder().decode(AuditListResponse.self, from: body).entries
                            #expect(!entries.isEmpty && entries.allSatisfy { $0.tenant == me.name }, "\(me.name) audit: \(entries)")
                            #expect(!entries.contains { entry in entry.status < 300 && foreign.contains { entry.agentId == $0 || entry.requestId == $0 } })
                            #expect(!entries.contains { $0.keyName == "admin-\(other.name.suffix(1))" })
                            continue
                        }
                        for name in foreign {
                            #expect(!text.contains(name), "\(me.name) GET \(probe.path) shows \(name) of \(other.name)")
                        }
                    }
                }
                // Positive controls: the tenant's own things are there, so an empty answer cannot pass.
                for (path, needle) in [
                    ("/api/v1/agents", me.agent), ("/api/v1/alerts", me.agent), ("/metrics/fleet", me.agent),
                    ("/api/v1/tokens", me.enrollment.id), ("/api/v1/audit", me.requests[0]),
                ] {
                    let (_, body) = try await HTTP.get(master.http + path, token: me.key.secret)
                    #expect(String(decoding: body, as: UTF8.self).contains(needle), "\(me.name) GET \(path) lacks its own \(needle)")
                }
                // The event stream: the own agent's heartbeats arrive, the other's never.
                let stream = try SSEClient(port: master.port, path: "/api/v1/events", token: me.key.secret)
                // Ends as soon as three have come (1 s heartbeats); the bound allows for a loaded run.
                let events = await stream.events(timeout: .seconds(12)) { events in
                    events.filter { $0.data.contains(me.agent) }.count >= 3
                }
                stream.close()
                #expect(events.filter { $0.data.contains(me.agent) }.count >= 3, "\(me.name)'s own agent on its stream")
                #expect(!events.contains { event in foreign.contains { event.data.contains($0) } }, "\(me.name)'s stream shows \(other.name)")
            }
            // The bootstrap admin key (every tenant) sees both.
            let all = try await cluster.agents(master).map(\.id)
            #expect(sides.allSatisfy { all.contains($0.agent) })
        }
    }
}
