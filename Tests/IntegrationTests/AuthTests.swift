import FleetProtocol
import Foundation
import Testing

/// Auth is on by default: agents need the enrollment token to open a session, operators
/// need the admin token for the API; each refusal has its status.
@Suite("Authentication", .serialized)
struct AuthTests {
    @Test("agent sessions: the agent token connects; none, a wrong one or the admin token is closed 4401/4403 with the reason")
    func agentTokens() async throws {
        try await withCluster("auth-ws") { cluster in
            let master = try await cluster.startServe()
            // Plain HTTP GET on the socket path is not a session at all.
            #expect(try await HTTP.get("\(master.http)/ws").status == 426)

            func intruder(_ name: String, token: String?) throws -> FleetProcess {
                var arguments = [
                    "run", "--set", "master.url=\(master.ws)", "--set", "agent.state_dir=\(name)",
                    "--set", "logging.dir=\(name)/logs", "--set", "connection.backoff_cap=1",
                ]
                if let token { arguments += ["--set", "master.token=\(token)"] }
                return try cluster.start(name, "agent", arguments)
            }
            let none = try intruder("no-token", token: nil)
            let wrong = try intruder("wrong-token", token: "guess")
            let admin = try intruder("admin-token", token: cluster.adminToken)
            let (_, allowed) = try await cluster.startAgent("allowed", urls: [master.ws])

            #expect(await eventually(timeout: .seconds(10)) {
                none.stderr.contains("refused this agent's token") && none.stderr.contains("4401")
                    && wrong.stderr.contains("refused this agent's token") && wrong.stderr.contains("4401")
                    && admin.stderr.contains("refused this agent's token") && admin.stderr.contains("4403")
            }, "\(cluster.logs())")
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.states(master)[allowed] == .online })
            #expect(try await cluster.agents(master).map(\.id) == [allowed], "refused agents never appear")
        }
    }

    @Test("admin API: 200 with the admin token, 401 without or wrong, 403 with the agent token; health stays open")
    func adminAPI() async throws {
        try await withCluster("auth-api") { cluster in
            let master = try await cluster.startServe()
            let url = "\(master.http)/api/v1/agents"
            #expect(try await HTTP.get(url, token: cluster.adminToken).status == 200)
            let (missing, body) = try await HTTP.get(url)
            #expect(missing == 401)
            #expect(try JSONDecoder().decode(APIErrorBody.self, from: body).error.code == "unauthorized")
            #expect(try await HTTP.get(url, token: "guess").status == 401)
            let (scope, scopeBody) = try await HTTP.get(url, token: cluster.agentToken)
            #expect(scope == 403)
            #expect(try JSONDecoder().decode(APIErrorBody.self, from: scopeBody).error.code == "forbidden")
            #expect(try await HTTP.get("\(master.http)/api/v1/agents/x", token: "guess").status == 401)
            // The token is taken from the Authorization header only, never from a URL (URLs are logged).
            #expect(try await HTTP.get("\(master.http)/api/v1/events?token=\(cluster.adminToken)").status == 401)
            #expect(try await HTTP.get("\(master.http)/healthz").status == 200)
            #expect(try await HTTP.get("\(master.http)/readyz").status == 200)
        }
    }

    @Test("master serve generates both tokens on first start (mode 0600) and keeps them")
    func generatedTokens() async throws {
        try await withCluster("auth-gen") { cluster in
            let first = try cluster.start("serve", "master", ["serve", "--ready-file", "serve.json", "--set", "data_dir=data", "--set", "server.port=0", "--set", "server.host=127.0.0.1"])
            let master = try Cluster.gateway(first, try await cluster.ready(first, file: "serve.json"))
            let adminFile = cluster.directory.appendingPathComponent("data/admin-token").path
            let agentFile = cluster.directory.appendingPathComponent("data/agent-token").path
            for file in [adminFile, agentFile, cluster.directory.appendingPathComponent("data/reply-secret").path] {
                let permissions = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
                #expect(permissions == 0o600, "\(file)")
            }
            let dataDir = try FileManager.default.attributesOfItem(atPath: cluster.directory.appendingPathComponent("data").path)
            #expect(dataDir[.posixPermissions] as? Int == 0o700, "the data dir holds secrets: 0700")
            let admin = try String(contentsOfFile: adminFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(admin.count == 64)
            #expect(try await HTTP.get("\(master.http)/api/v1/agents", token: admin).status == 200)
            #expect(first.stderr.contains("admin-token"), "startup says where the admin token is")
            await first.stop()
            // Second start: same tokens.
            try? FileManager.default.removeItem(atPath: cluster.directory.appendingPathComponent("serve.json").path)
            let second = try cluster.start("serve-2", "master", ["serve", "--ready-file", "serve.json", "--set", "data_dir=data", "--set", "server.port=0", "--set", "server.host=127.0.0.1"])
            let again = try Cluster.gateway(second, try await cluster.ready(second, file: "serve.json"))
            #expect(try await HTTP.get("\(again.http)/api/v1/agents", token: admin).status == 200)
        }
    }

    @Test("a split gateway without configured tokens refuses to start, naming the keys")
    func gatewayNeedsTokens() async throws {
        try await withCluster("auth-gw") { cluster in
            let process = try cluster.start("gateway", "master", ["gateway", "--set", "data_dir=gw", "--set", "server.port=0"])
            let status = await process.waitForExit(timeout: .seconds(20))
            #expect(status == 2)
            #expect(process.stderr.contains("auth.agent_token"), "\(process.stderr)")
        }
    }
}
