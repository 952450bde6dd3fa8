import FleetProtocol
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// TLS on the gateway (HTTPS and WSS from `server.tls.*`, optional client certificates),
/// the agent's and the CLI's side of it, the certificates `master certs init` makes, and the
/// agent's refusal to send its token in clear. Real binaries, real handshakes, a private CA.
@Suite("TLS", .serialized)
struct TLSTests {
    /// What `master certs init --dir` wrote.
    struct PKI {
        let dir: String
        var ca: String { "\(dir)/ca.crt" }
        var gatewayCert: String { "\(dir)/gateway.crt" }
        var gatewayKey: String { "\(dir)/gateway.key" }
        func agentCert(_ name: String) -> String { "\(dir)/agent-\(name).crt" }
        func agentKey(_ name: String) -> String { "\(dir)/agent-\(name).key" }

        /// `master serve`/`gateway` arguments turning TLS on (and mTLS with `clientCA`).
        func serverArguments(clientCA: Bool = false) -> [String] {
            ["--set", "server.tls.cert=\(gatewayCert)", "--set", "server.tls.key=\(gatewayKey)"]
                + (clientCA ? ["--set", "server.tls.client_ca=\(ca)"] : [])
        }

        func agentArguments(client name: String? = nil) -> [String] {
            ["--set", "master.ca_file=\(ca)"]
                + (name.map { ["--set", "master.cert_file=\(agentCert($0))", "--set", "master.key_file=\(agentKey($0))"] } ?? [])
        }
    }

    func certsInit(_ cluster: Cluster, _ name: String, _ extra: [String] = []) async throws -> PKI {
        let dir = cluster.directory.appendingPathComponent(name).path
        let made = try await cluster.run("master", ["certs", "init", "--dir", dir] + extra)
        guard made.status == 0 else { throw HarnessError("certs init exited \(String(describing: made.status)):\n\(made.stderr)") }
        return PKI(dir: dir)
    }

    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    /// id -> state through an HTTPS client trusting `pki`'s CA.
    func states(_ cluster: Cluster, _ gateway: Cluster.Gateway, _ client: HTTPSClient) async throws -> [String: AgentState] {
        let (status, body) = try await client.get("\(gateway.http)/api/v1/agents", token: cluster.adminToken)
        guard status == 200 else { throw HarnessError("GET agents over HTTPS: \(status)") }
        let list = try FleetJSON.decoder().decode(AgentListResponse.self, from: body)
        return Dictionary(list.agents.map { ($0.id, $0.state) }, uniquingKeysWith: { first, _ in first })
    }

    /// Lines of `text` containing `needle`.
    func count(_ needle: String, in text: String) -> Int {
        text.split(separator: "\n").filter { $0.contains(needle) }.count
    }

    /// Whether the agent's log shows a welcome ("… [AgentCore] connected": metadata come first).
    func welcomed(_ log: String) -> Bool {
        log.contains("[AgentCore] connected")
    }

    /// `failures=N` of every "reconnecting" line, in order.
    func reconnectFailures(_ log: String) -> [Int] {
        log.split(separator: "\n").filter { $0.contains("reconnecting") }.compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("failures=") }.flatMap { Int($0.dropFirst("failures=".count)) }
        }
    }

    @Test("certs init: CA, gateway and agent certificates, 0600 in a 0700 directory; openssl verifies the chain and the SANs")
    func certsInitMakesVerifiableFiles() async throws {
        try await withCluster("certs") { cluster in
            let dir = cluster.directory.appendingPathComponent("pki/fleet").path  // parents made too
            let made = try await cluster.run("master", [
                "certs", "init", "--dir", dir, "--host", "fleet.example.org", "--host", "10.1.2.3", "--agent", "web-1", "--days", "30",
            ], environment: [:])
            #expect(made.status == 0, "\(made.stderr)")
            #expect(made.stdout.contains("server.tls.cert: \(dir)/gateway.crt") && made.stdout.contains("master.ca_file: \(dir)/ca.crt"), "\(made.stdout)")

            let files = ["ca.crt", "ca.key", "gateway.crt", "gateway.key", "agent-web-1.crt", "agent-web-1.key"]
            for file in files {
                #expect(try mode("\(dir)/\(file)") == 0o600, "\(file)")
            }
            #expect(try mode(dir) == 0o700)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == files.sorted(), "no temporary files left")

            let verify = try await cluster.run("/usr/bin/openssl", ["verify", "-CAfile", "\(dir)/ca.crt", "\(dir)/gateway.crt"])
            #expect(verify.status == 0 && verify.stdout.contains("gateway.crt: OK"), "\(verify.stdout) \(verify.stderr)")
            let server = try await cluster.run("/usr/bin/openssl", ["verify", "-purpose", "sslserver", "-CAfile", "\(dir)/ca.crt", "\(dir)/gateway.crt"])
            #expect(server.status == 0, "gateway.crt is for TLS servers: \(server.stderr)")
            let client = try await cluster.run("/usr/bin/openssl", ["verify", "-purpose", "sslclient", "-CAfile", "\(dir)/ca.crt", "\(dir)/agent-web-1.crt"])
            #expect(client.status == 0, "agent-web-1.crt is for TLS clients: \(client.stderr)")
            let notServer = try await cluster.run("/usr/bin/openssl", ["verify", "-purpose", "sslserver", "-CAfile", "\(dir)/ca.crt", "\(dir)/agent-web-1.crt"])
            #expect(notServer.status != 0, "a client certificate cannot pose as a gateway")

            let sans = try await cluster.run("/usr/bin/openssl", ["x509", "-in", "\(dir)/gateway.crt", "-noout", "-ext", "subjectAltName"])
            for name in ["DNS:fleet.example.org", "IP Address:10.1.2.3", "DNS:localhost", "IP Address:127.0.0.1"] {
                #expect(sans.stdout.contains(name), "\(name) in \(sans.stdout)")
            }
            let key = try await cluster.run("/usr/bin/openssl", ["pkey", "-in", "\(dir)/gateway.key", "-noout", "-text"])
            #expect(key.stdout.contains("prime256v1") || key.stdout.contains("P-256"), "P-256 key: \(key.stdout.prefix(200))")

            // Existing files are kept unless --force; with it, everything is new (a new CA).
            let before = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/ca.crt"))
            let again = try await cluster.run("master", ["certs", "init", "--dir", dir])
            #expect(again.status == 2 && again.stderr.contains("--force"), "\(again.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/ca.crt")) == before)
            let forced = try await cluster.run("master", ["certs", "init", "--dir", dir, "--force"])
            #expect(forced.status == 0, "\(forced.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/ca.crt")) != before)

            let badHost = try await cluster.run("master", ["certs", "init", "--dir", "\(dir)-2", "--host", "not a name"])
            #expect(badHost.status == 2 && badHost.stderr.contains("not a name"), "\(badHost.stderr)")
        }
    }

    @Test("an agent with the right master.ca_file goes online over wss:// and a status callback completes over https://")
    func agentOverWSS() async throws {
        try await withCluster("wss") { cluster in
            let pki = try await certsInit(cluster, "pki")
            let master = try await cluster.startServe(pki.serverArguments())
            #expect(master.http.hasPrefix("https://localhost:"), "ready file: \(master.http)")
            #expect(master.ws.hasPrefix("wss://localhost:"))
            #expect(master.process.stderr.contains("wss://localhost:\(master.port)/ws"), "the logged ws URL says wss://")
            let https = try HTTPSClient(ca: pki.ca)
            #expect(try await https.get("\(master.http)/healthz").status == 200)
            // HTTPS only: the same port does not answer plain HTTP.
            await #expect(throws: (any Error).self) { _ = try await HTTP.get("http://127.0.0.1:\(master.port)/healthz") }

            let (agent, id) = try await cluster.startAgent("agent", urls: [master.ws], extra: pki.agentArguments())
            #expect(await eventually(timeout: .seconds(15)) { try await states(cluster, master, https)[id] == .online }, "\(cluster.logs())")

            let (status, body) = try await https.post(
                "\(master.http)/api/v1/agents/\(id)/callbacks?wait=30", token: cluster.adminToken, body: Data(#"{"kind":"status","args":{}}"#.utf8)
            )
            #expect(status == 200, "\(String(decoding: body, as: UTF8.self))")
            let record = try FleetJSON.decoder().decode(RequestRecord.self, from: body)
            #expect(record.state == .completed && record.result?["memory"] != nil, "\(record)")
            #expect(welcomed(agent.stderr))
            // Logged once the gateway's 202 is read, which can be after ?wait has answered.
            #expect(await eventually(timeout: .seconds(5)) { agent.stderr.contains("reply delivered") }, "the reply went over https:// (master.api_url \(Cluster.apiURL(forWebSocket: master.ws)))")
            #expect(!agent.stderr.contains("TLS:"))
        }
    }

    @Test("a connection that never finishes its TLS handshake is closed by the header timeout; HTTPS keeps serving")
    func stalledHandshakes() async throws {
        try await withCluster("tls-stall") { cluster in
            let pki = try await certsInit(cluster, "pki")
            let master = try await cluster.startServe(pki.serverArguments() + ["--set", "server.header_timeout=2"])
            var sockets: [Int32] = []
            defer { for fd in sockets { close(fd) } }
            for index in 0..<25 {
                let fd = try RawHTTP.connect(port: master.port, timeout: timeval(tv_sec: 0, tv_usec: 100_000))
                if index % 5 == 0 {
                    // The first bytes of a ClientHello record, then nothing.
                    let partial: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01]
                    _ = partial.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                }
                sockets.append(fd)
            }
            let https = try HTTPSClient(ca: pki.ca)
            #expect(try await https.get("\(master.http)/healthz").status == 200)
            var open = Set(sockets)
            let deadline = ContinuousClock.now + .seconds(6)
            while ContinuousClock.now < deadline, !open.isEmpty {
                open = open.filter { !FloodTests.closedByPeer($0) }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(open.isEmpty, "\(open.count) stalled handshakes still open after 6 s")
            #expect(try await https.get("\(master.http)/healthz").status == 200)
        }
    }

    @Test("an agent trusting another CA fails with a clear TLS line, backs off, and never goes online")
    func wrongCAFailsClearly() async throws {
        try await withCluster("wrong-ca") { cluster in
            let pki = try await certsInit(cluster, "pki")
            let other = try await certsInit(cluster, "other-pki")
            let master = try await cluster.startServe(pki.serverArguments())
            let https = try HTTPSClient(ca: pki.ca)
            let (agent, id) = try await cluster.startAgent("agent", urls: [master.ws], extra: other.agentArguments())
            let line = "TLS: the gateway's certificate is not trusted (check master.ca_file)"
            #expect(await eventually(timeout: .seconds(20)) { count(line, in: agent.stderr) >= 3 }, "\(agent.stderr.suffix(3000))")
            let failures = reconnectFailures(agent.stderr)
            #expect(failures.count >= 3 && Array(failures.prefix(3)) == [1, 2, 3], "each TLS failure counts toward the backoff: \(failures)")
            #expect(!welcomed(agent.stderr), "never welcomed")
            #expect(try await states(cluster, master, https)[id] == nil, "the master never heard of it")
            #expect(agent.isRunning, "a TLS failure is retried, not fatal")
        }
    }

    @Test("a gateway certificate that does not name the host dialled: a clear TLS line naming the host, for agent and CLI")
    func wrongHostFailsClearly() async throws {
        try await withCluster("wrong-host") { cluster in
            let pki = try await certsInit(cluster, "pki")
            // Signed by the right CA, but for another name only (made with openssl, as a site's own tooling would).
            let dir = pki.dir
            let request = try await cluster.run("/usr/bin/openssl", [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(dir)/other.key",
                "-subj", "/CN=other.example", "-out", "\(dir)/other.csr",
            ])
            try "subjectAltName=DNS:other.example\nextendedKeyUsage=serverAuth\n".write(toFile: "\(dir)/other.ext", atomically: true, encoding: .utf8)
            let signed = try await cluster.run("/usr/bin/openssl", [
                "x509", "-req", "-in", "\(dir)/other.csr", "-CA", pki.ca, "-CAkey", "\(dir)/ca.key", "-days", "1",
                "-extfile", "\(dir)/other.ext", "-out", "\(dir)/other.crt",
            ])
            #expect(request.status == 0 && signed.status == 0, "\(request.stderr) \(signed.stderr)")
            let master = try await cluster.startServe(["--set", "server.tls.cert=\(dir)/other.crt", "--set", "server.tls.key=\(dir)/other.key"])
            let (agent, _) = try await cluster.startAgent("agent", urls: [master.ws], extra: pki.agentArguments())
            let line = "TLS: the gateway's certificate is not valid for the host 'localhost'"
            #expect(await eventually(timeout: .seconds(20)) { count(line, in: agent.stderr) >= 2 }, "\(agent.stderr.suffix(3000))")
            #expect(!welcomed(agent.stderr))
            let cli = try await cluster.run("master", ["agents", "list", "--url", master.http, "--token", cluster.adminToken, "--ca-file", pki.ca])
            #expect(cli.status == 5 && cli.stderr.contains(line), "\(cli.stderr)")
        }
    }

    @Test("the CLI works over HTTPS with --ca-file or FLEET_CA_FILE, and exits 5 naming the certificate without")
    func cliOverHTTPS() async throws {
        try await withCluster("cli-tls") { cluster in
            let pki = try await certsInit(cluster, "pki")
            let master = try await cluster.startServe(pki.serverArguments())
            let (_, id) = try await cluster.startAgent("agent", urls: [master.ws], extra: pki.agentArguments())
            let https = try HTTPSClient(ca: pki.ca)
            #expect(await eventually(timeout: .seconds(15)) { try await states(cluster, master, https)[id] == .online })
            let environment = ["FLEET_URL": master.http, "FLEET_TOKEN": cluster.adminToken]

            let listed = try await cluster.run("master", ["agents", "list", "--json", "--ca-file", pki.ca], environment: environment)
            #expect(listed.status == 0, "\(listed.stderr)")
            #expect(try FleetJSON.decode(AgentListResponse.self, from: listed.stdout).agents.map(\.id) == [id])

            let status = try await cluster.run("master", ["status", id, "--json"], environment: environment.merging(["FLEET_CA_FILE": pki.ca]) { $1 })
            #expect(status.status == 0, "\(status.stderr)")
            #expect(try FleetJSON.decode(RequestRecord.self, from: status.stdout).state == .completed)

            let untrusted = try await cluster.run("master", ["agents", "list", "--json"], environment: environment)
            #expect(untrusted.status == 5, "\(untrusted.stderr)")
            #expect(untrusted.stderr.contains("certificate is not trusted") && untrusted.stderr.contains("--ca-file"), "\(untrusted.stderr)")

            let missing = try await cluster.run("master", ["agents", "list", "--ca-file", "nowhere.crt"], environment: environment)
            #expect(missing.status == 1 && missing.stderr.contains("--ca-file") && missing.stderr.contains("nowhere.crt"), "\(missing.stderr)")
        }
    }

    @Test("mTLS: with server.tls.client_ca an agent without a client certificate cannot connect; with its certs-init certificate it can")
    func mutualTLS() async throws {
        try await withCluster("mtls") { cluster in
            let pki = try await certsInit(cluster, "pki", ["--agent", "web-1", "--agent", "ops"])
            let stranger = try await certsInit(cluster, "stranger-pki", ["--agent", "web-1"])
            let master = try await cluster.startServe(pki.serverArguments(clientCA: true))
            let https = try HTTPSClient(ca: pki.ca, certificate: pki.agentCert("ops"), key: pki.agentKey("ops"))

            let (anonymous, anonymousID) = try await cluster.startAgent("anonymous", urls: [master.ws], extra: pki.agentArguments())
            // A client certificate from another CA is refused just the same.
            let (foreign, foreignID) = try await cluster.startAgent(
                "foreign", urls: [master.ws],
                extra: pki.agentArguments() + ["--set", "master.cert_file=\(stranger.agentCert("web-1"))", "--set", "master.key_file=\(stranger.agentKey("web-1"))"]
            )
            let (_, id) = try await cluster.startAgent("web-1", urls: [master.ws], extra: pki.agentArguments(client: "web-1"))
            #expect(await eventually(timeout: .seconds(15)) { try await states(cluster, master, https)[id] == .online }, "\(cluster.logs())")

            let refused = "TLS: the gateway refused the connection: it requires a client certificate from its CA (check master.cert_file and master.key_file)"
            #expect(await eventually(timeout: .seconds(20)) { count(refused, in: anonymous.stderr) >= 2 && count(refused, in: foreign.stderr) >= 2 }, "\(anonymous.stderr.suffix(2000))\n\(foreign.stderr.suffix(2000))")
            let known = try await states(cluster, master, https)
            #expect(known[anonymousID] == nil && known[foreignID] == nil)

            // The CLI too needs a client certificate here.
            let environment = ["FLEET_URL": master.http, "FLEET_TOKEN": cluster.adminToken, "FLEET_CA_FILE": pki.ca]
            let withCert = try await cluster.run("master", ["agents", "list", "--json", "--cert-file", pki.agentCert("ops"), "--key-file", pki.agentKey("ops")], environment: environment)
            #expect(withCert.status == 0, "\(withCert.stderr)")
            let withoutCert = try await cluster.run("master", ["agents", "list", "--json"], environment: environment)
            #expect(withoutCert.status == 5 && withoutCert.stderr.contains("client certificate"), "\(withoutCert.stderr)")
        }
    }

    @Test("an agent refuses to send its token over ws:// or http:// to another host unless master.insecure; wss:// needs a host name")
    func plaintextTokenRefused() async throws {
        try await withCluster("plaintext") { cluster in
            func agent(_ name: String, _ settings: [String]) throws -> FleetProcess {
                try cluster.start(name, "agent", [
                    "run", "--set", "agent.state_dir=\(name)/state", "--set", "logging.dir=\(name)/logs", "--set", "master.token=\(cluster.agentToken)",
                ] + settings.flatMap { ["--set", $0] })
            }
            let remote = try agent("remote", ["master.url=ws://10.1.2.3:8080/ws", "master.api_url=https://fleet.example.org/api"])
            #expect(await remote.waitForExit(timeout: .seconds(20)) == 2)
            #expect(remote.stderr.contains("'master.url'") && remote.stderr.contains("master.insecure") && remote.stderr.contains("in clear"), "\(remote.stderr)")

            let failover = try agent("failover", ["master.url=wss://fleet.example.org/ws", "master.urls=[ws://10.1.2.3:8080/ws]", "master.api_url=https://fleet.example.org/api"])
            #expect(await failover.waitForExit(timeout: .seconds(20)) == 2)
            #expect(failover.stderr.contains("'master.urls'"), "\(failover.stderr)")

            let api = try agent("api", ["master.url=ws://127.0.0.1:1/ws", "master.api_url=http://10.1.2.3:8080/api"])
            #expect(await api.waitForExit(timeout: .seconds(20)) == 2)
            #expect(api.stderr.contains("'master.api_url'") && api.stderr.contains("master.insecure"), "\(api.stderr)")

            let address = try agent("address", ["master.url=wss://10.1.2.3:8443/ws", "master.api_url=https://10.1.2.3:8443/api"])
            #expect(await address.waitForExit(timeout: .seconds(20)) == 2)
            #expect(address.stderr.contains("needs a host name"), "\(address.stderr)")

            // Allowed in clear: it starts and tries to connect.
            let insecure = try agent("insecure", ["master.url=ws://10.1.2.3:8080/ws", "master.api_url=http://10.1.2.3:8080/api", "master.insecure=true"])
            #expect(await eventually(timeout: .seconds(20)) { insecure.stderr.contains("connecting") && insecure.stderr.contains("10.1.2.3") }, "\(insecure.stderr)")
            #expect(insecure.isRunning)
            // Loopback in clear needs nothing (every other test does it too).
            let local = try agent("local", ["master.url=ws://localhost:1/ws", "master.api_url=http://[::1]:1/api"])
            #expect(await eventually(timeout: .seconds(20)) { local.stderr.contains("connecting") }, "\(local.stderr)")
            #expect(local.isRunning)
        }
    }

    @Test("unusable TLS files stop gateway and agent at start with exit 2 and the key named")
    func badFilesStopAtStart() async throws {
        try await withCluster("tls-files") { cluster in
            let pki = try await certsInit(cluster, "pki", ["--agent", "web-1"])
            try "not a certificate\n".write(to: cluster.directory.appendingPathComponent("junk.pem"), atomically: true, encoding: .utf8)
            func serve(_ settings: [String]) async throws -> (Int32?, String) {
                let result = try await cluster.run("master", ["serve", "--set", "data_dir=serve", "--set", "server.host=127.0.0.1", "--set", "server.port=0"] + settings.flatMap { ["--set", $0] }, timeout: .seconds(20))
                return (result.status, result.stderr)
            }
            let missing = try await serve(["server.tls.cert=nowhere.crt", "server.tls.key=\(pki.gatewayKey)"])
            #expect(missing.0 == 2 && missing.1.contains("server.tls.cert") && missing.1.contains("nowhere.crt"), "\(missing.1)")
            let junk = try await serve(["server.tls.cert=\(pki.gatewayCert)", "server.tls.key=junk.pem"])
            #expect(junk.0 == 2 && junk.1.contains("server.tls.key") && junk.1.contains("not a PEM private key"), "\(junk.1)")
            let mismatch = try await serve(["server.tls.cert=\(pki.gatewayCert)", "server.tls.key=\(pki.agentKey("web-1"))"])
            #expect(mismatch.0 == 2 && mismatch.1.contains("server.tls.key") && mismatch.1.contains("that certificate's key"), "\(mismatch.1)")
            let alone = try await serve(["server.tls.cert=\(pki.gatewayCert)"])
            #expect(alone.0 == 2 && alone.1.contains("go together"), "\(alone.1)")
            let clientCA = try await serve(["server.tls.cert=\(pki.gatewayCert)", "server.tls.key=\(pki.gatewayKey)", "server.tls.client_ca=junk.pem"])
            #expect(clientCA.0 == 2 && clientCA.1.contains("server.tls.client_ca"), "\(clientCA.1)")

            let agent = try await cluster.run("agent", [
                "run", "--set", "master.url=wss://localhost:1/ws", "--set", "master.api_url=https://localhost:1/api",
                "--set", "master.ca_file=junk.pem", "--set", "agent.state_dir=agent/state", "--set", "logging.dir=agent/logs",
            ], timeout: .seconds(20))
            #expect(agent.status == 2 && agent.stderr.contains("master.ca_file") && agent.stderr.contains("junk.pem"), "\(agent.stderr)")
            let halfPair = try await cluster.run("agent", [
                "run", "--set", "master.url=wss://localhost:1/ws", "--set", "master.api_url=https://localhost:1/api",
                "--set", "master.cert_file=\(pki.agentCert("web-1"))", "--set", "agent.state_dir=agent/state", "--set", "logging.dir=agent/logs",
            ], timeout: .seconds(20))
            #expect(halfPair.status == 2 && halfPair.stderr.contains("master.key_file"), "\(halfPair.stderr)")
        }
    }
}
