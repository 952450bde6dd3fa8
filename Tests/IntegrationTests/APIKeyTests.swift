import FleetProtocol
import Foundation
import Testing

/// API keys with roles (issue 10 items 4 and 5): viewer reads, operator adds status and
/// logs, admin adds the rest; every mutating call, refused or not, is in the audit log with
/// the key's name.
@Suite("API keys and the audit log", .serialized)
struct APIKeyTests {
    @Test("a viewer key gets 403 on exec, config, logs, status and delete; an operator key on exec; every call is in the audit log with its key name")
    func roles() async throws {
        try await withCluster("keys-roles") { cluster in
            let master = try await cluster.startServe()
            let (_, id) = try await cluster.startAgent("agent", urls: [master.ws])
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.states(master)[id] == .online }, "\(cluster.logs())")
            // Keys made with the CLI (the bootstrap admin token is an admin key).
            let made = try await cluster.cli(master, ["tokens", "create", "--role", "viewer", "--name", "grafana", "--json"])
            #expect(made.status == 0, "\(made.stderr)")
            let viewer = try FleetJSON.decode(APIKeySummary.self, from: made.stdout)
            let viewerSecret = try #require(viewer.secret)
            #expect(viewer.role == .viewer && viewer.name == "grafana")
            let op = try await cluster.makeKey(master, role: "operator", name: "oncall")

            let callbacks = "\(master.http)/api/v1/agents/\(id)/callbacks"
            func post(_ kind: String, _ args: String = "{}", token: String) async throws -> Int {
                try await cluster.call("POST", callbacks, token: token, body: #"{"kind":"\#(kind)","args":\#(args)}"#).status
            }
            // Reads are fine for both.
            #expect(try await HTTP.get("\(master.http)/api/v1/agents", token: viewerSecret).status == 200)
            #expect(try await HTTP.get("\(master.http)/api/v1/agents/\(id)", token: op.secret).status == 200)
            // The viewer may change nothing and ask nothing of an agent.
            for kind in ["exec", "config", "logs", "status", "restart"] {
                #expect(try await post(kind, kind == "exec" ? #"{"argv":["id"]}"# : "{}", token: viewerSecret) == 403, "viewer \(kind)")
            }
            #expect(try await cluster.call("DELETE", "\(master.http)/api/v1/agents/\(id)", token: viewerSecret).status == 403)
            #expect(try await cluster.call("POST", "\(master.http)/api/v1/tokens", token: viewerSecret, body: #"{"role":"admin","name":"x"}"#).status == 403)
            #expect(try await HTTP.get("\(master.http)/api/v1/audit", token: viewerSecret).status == 403)
            // The operator may ask for status and logs, not run commands or change the agent.
            #expect(try await post("exec", #"{"argv":["id"]}"#, token: op.secret) == 403)
            #expect(try await post("config", #"{"metrics.interval":5}"#, token: op.secret) == 403)
            #expect(try await post("status", token: op.secret) == 202)
            #expect(try await post("logs", token: op.secret) == 202)
            // The CLI says what is wrong and exits 4.
            let refused = try await cluster.cli(master, ["exec", id, "--", "id"], token: op.secret)
            #expect(refused.status == 4 && refused.stderr.contains("admin"), "\(refused.stderr)")

            // The audit log has every one of those calls, refusals included, by key name. Audit
            // lines travel the bus like everything else: the last one may take a moment.
            var entries: [AuditEntry] = []
            let complete = await eventually(timeout: .seconds(3)) {
                let (status, body) = try await HTTP.get("\(master.http)/api/v1/audit?limit=100", token: cluster.adminToken)
                guard status == 200 else { throw HarnessError("GET audit: HTTP \(status)") }
                entries = try FleetJSON.decoder().decode(AuditListResponse.self, from: body).entries
                return entries.count >= 14  // 7 by the viewer, 5 by the operator, 2 key creations
            }
            #expect(complete, "\(entries.count) audit lines: \(entries.map(\.action))")
            func count(_ key: String, _ action: String, _ status: Int) -> Int {
                entries.filter { $0.keyName == key && $0.action == action && $0.status == status }.count
            }
            for kind in ["exec", "config", "logs", "status", "restart"] {
                #expect(count("grafana", "callback.\(kind)", 403) == 1, "viewer \(kind) in the audit log: \(entries)")
            }
            #expect(count("grafana", "agent.delete", 403) == 1)
            #expect(count("grafana", "token.create", 403) == 1)
            #expect(count("oncall", "callback.exec", 403) == 2, "the API call and the CLI's")
            #expect(count("oncall", "callback.config", 403) == 1)
            #expect(count("oncall", "callback.status", 202) == 1)
            #expect(count("oncall", "callback.logs", 202) == 1)
            #expect(count("admin token (auth.admin_token)", "token.create", 201) == 2)
            let granted = try #require(entries.first { $0.keyName == "oncall" && $0.action == "callback.status" })
            #expect(granted.agentId == id && granted.requestId != nil && granted.argsSHA256?.count == 64 && granted.source?.hasPrefix("127.0.0.1:") == true)
            // Reads are not mutations: none of the GETs above is in the log.
            #expect(!entries.contains { $0.action.hasPrefix("get") })
            let cliAudit = try await cluster.cli(master, ["audit", "--agent", id, "--json"])
            #expect(cliAudit.status == 0, "\(cliAudit.stderr)")
            #expect(try FleetJSON.decode(AuditListResponse.self, from: cliAudit.stdout).entries.allSatisfy { $0.agentId == id })

            // A revoked key is refused from then on (and says so), and `tokens list` shows it revoked.
            let revoke = try await cluster.cli(master, ["tokens", "revoke", viewer.id])
            #expect(revoke.status == 0, "\(revoke.stderr)")
            let (afterStatus, afterBody) = try await HTTP.get("\(master.http)/api/v1/agents", token: viewerSecret)
            #expect(afterStatus == 401 && String(decoding: afterBody, as: UTF8.self).contains("revoked"))
            let list = try await cluster.cli(master, ["tokens", "list", "--json"])
            let keys = try FleetJSON.decode(APIKeyListResponse.self, from: list.stdout).tokens
            #expect(keys.first { $0.id == viewer.id }?.revokedAt != nil && keys.allSatisfy { $0.secret == nil })
        }
    }

    @Test("keys and credentials survive a registry restart; an enrollment token enrolls no more agents than its limit")
    func persistence() async throws {
        try await withCluster("keys-restart") { cluster in
            let bus = try await cluster.startRegistry()
            let gateway = try await cluster.startGateway("gateway-a", bus: bus)
            let viewer = try await cluster.makeKey(gateway, role: "viewer", name: "dash")
            let enrollment = try await cluster.makeKey(gateway, role: "enrollment", name: "lab", maxAgents: 1)
            let first = cluster.testAgent()
            guard case .welcome(let welcome) = try await first.connect(url: gateway.ws, token: enrollment.secret), let credential = welcome.credential else {
                Issue.record("the enrollment token did not enroll")
                return
            }
            let second = cluster.testAgent()
            guard case .error(let capped) = try await second.connect(url: gateway.ws, token: enrollment.secret) else {
                Issue.record("a second agent enrolled past max_agents 1")
                return
            }
            #expect(capped.code == "forbidden" && capped.message.contains("limit of 1"), "\(capped)")
            await first.close()

            // Restart the registry where it was: the key and the credential are still valid.
            let registry = try #require(cluster.process(named: "registry"))
            await registry.stop()
            _ = try await cluster.startRegistry(name: "registry-2", bus: bus)
            #expect(await eventually(timeout: .seconds(10)) { try await HTTP.get("\(gateway.http)/readyz").status == 200 })
            #expect(await eventually(timeout: .seconds(5)) { try await HTTP.get("\(gateway.http)/api/v1/agents", token: viewer.secret).status == 200 })
            let back = cluster.testAgent(id: first.id)
            guard case .welcome(let again) = try await back.connect(url: gateway.ws, token: enrollment.secret, credential: credential) else {
                Issue.record("the enrolled agent was refused after a registry restart")
                return
            }
            #expect(again.credential == nil, "a credential is issued once")
            await back.close()
        }
    }
}
