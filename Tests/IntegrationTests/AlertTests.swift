import FleetProtocol
import Foundation
import Testing

/// Alert rules and webhooks, with a local receiver (a small Python HTTP server) that can be down.
@Suite("Alerts", .serialized)
struct AlertTests {
    static let receiver = """
        import http.server, signal, sys
        # Children of the test runner inherit a signal mask with SIGTERM blocked; unblock it so
        # the cluster's graceful stop works.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
        out = sys.argv[2]
        class Hook(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with open(out, "ab") as f:
                    f.write(body + b"\\n")
                self.send_response(200)
                self.end_headers()
            def log_message(self, *args):
                pass
        http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
        """

    /// One `host-down` rule (offline for 1 s) and a JSON webhook on `port`, retried fast.
    static func hostDownConfig(port: Int) -> String {
        """
        alerts:
          rules:
            - {name: host-down, kind: offline, for: 1}
          webhooks:
            - {url: "http://127.0.0.1:\(port)/hook", format: json}
          retry_base: 0.2
          retry_cap: 0.5
        """
    }

    /// A loopback port held (bound with SO_REUSEADDR, not listening) until the receiver has
    /// bound it too: a port merely found free and released can be taken meanwhile by any
    /// process's outgoing connection (seen when the flood test's 1,000 sockets ran alongside).
    /// With `port`, that port (a gateway's, to restart it on the same address); else any free one.
    func reservePort(_ port: Int = 0) throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: errno \(errno)") }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(fd, pointer, length) == 0 else { return -1 }
                return getsockname(fd, pointer, &length)
            }
        }
        guard bound == 0 else {
            close(fd)
            throw HarnessError("bind: errno \(errno)")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    @Test("agent killed -> one 'firing'; agent back -> one 'resolved'; a receiver that was down gets them after retries")
    func offlineAlert() async throws {
        try await withCluster("alerts") { cluster in
            let (reservation, port) = try reservePort()
            defer { close(reservation) }
            let config = cluster.directory.appendingPathComponent("master.yaml")
            try Self.hostDownConfig(port: port).write(to: config, atomically: true, encoding: .utf8)
            let master = try await cluster.startServe(["--config", config.path])
            let (agent, id) = try await cluster.startAgent("agent", urls: [master.ws])
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.states(master)[id] == .online })

            agent.signal(SIGKILL)
            func alerts() async throws -> [AlertRecord] {
                struct List: Decodable { var alerts: [AlertRecord] }
                let (status, body) = try await HTTP.get("\(master.http)/api/v1/alerts", token: cluster.adminToken)
                guard status == 200 else { throw HarnessError("GET alerts: HTTP \(status)") }
                return try FleetJSON.decoder().decode(List.self, from: body).alerts
            }
            #expect(await eventually(timeout: .seconds(10)) { try await alerts().first { $0.agentId == id }?.state == .firing })
            // The receiver is down while the alert fires; it comes up a little later.
            try await Task.sleep(for: .seconds(1.5))
            let received = cluster.directory.appendingPathComponent("received.jsonl")
            let script = cluster.directory.appendingPathComponent("receiver.py")
            try Self.receiver.write(to: script, atomically: true, encoding: .utf8)
            // Started like our binaries: output to files (never the test runner's pipes), stopped
            // by the cluster's shutdown.
            let python3 = ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }
                ?? ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":").map { "\($0)/python3" }
                    .first { FileManager.default.isExecutableFile(atPath: $0) }
            _ = try cluster.start("receiver", try #require(python3, "python3 not found"), [script.path, "\(port)", received.path])

            /// What the receiver wrote (nothing before its first request); a line that is not a
            /// notification throws.
            func notifications() throws -> [(status: String, alert: String)] {
                guard FileManager.default.fileExists(atPath: received.path) else { return [] }
                return try String(contentsOf: received, encoding: .utf8).split(separator: "\n").map { line in
                    guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                        let status = object["status"] as? String, let alert = object["alert"] as? [String: Any], let alertId = alert["id"] as? String
                    else { throw HarnessError("not a notification: \(line)") }
                    return (status, alertId)
                }
            }
            #expect(await eventually(timeout: .seconds(10)) { try notifications().count == 1 }, "delivered after the receiver came up")
            let first = try notifications().first
            #expect(first?.status == "firing" && first?.alert == "host-down:\(id)")

            // The agent comes back (same state dir, same id): resolved, once.
            _ = try cluster.start("agent-again", "agent", agent.arguments)
            #expect(await eventually(timeout: .seconds(15)) { try notifications().count >= 2 }, "\(cluster.logs())")
            #expect(try notifications().map(\.status) == ["firing", "resolved"])
            #expect(await never(within: .seconds(2)) { try notifications().count > 2 }, "no duplicate notifications")
            #expect(try await alerts().first { $0.agentId == id }?.state == .resolved)
        }
    }
}
