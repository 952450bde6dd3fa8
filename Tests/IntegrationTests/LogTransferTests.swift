import Crypto
import FleetProtocol
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import Testing

/// Log retrieval with the real agent, across separate processes.
@Suite("Log retrieval", .serialized)
struct LogTransferTests {
    @Test("a 100 MiB log file comes back byte-identical; no master process grows more than 64 MiB while it moves")
    func hundredMegabytes() async throws {
        try await withCluster("logs-100m") { cluster in
            let (_, gateways) = try await cluster.startSplit(workers: 2)
            let (gatewayA, gatewayB) = (gateways[0], gateways[1])
            let (_, id) = try await cluster.startAgent("agent", urls: [gatewayB.ws])
            #expect(await eventually(timeout: .seconds(15)) { try await cluster.states(gatewayA)[id] == .online })

            // 100 MiB of random bytes in the agent's log directory, hashed as written.
            let logs = cluster.directory.appendingPathComponent("agent/logs")
            let file = logs.appendingPathComponent("big.log")
            let size = 100 * 1_048_576
            var hasher = SHA256()
            _ = FileManager.default.createFile(atPath: file.path, contents: nil)
            let handle = try FileHandle(forWritingTo: file)
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<(size / 1_048_576) {
                let block = Data((0..<(1_048_576 / 8)).flatMap { _ in withUnsafeBytes(of: generator.next() as UInt64) { Array($0) } })
                hasher.update(data: block)
                try handle.write(contentsOf: block)
            }
            try handle.close()
            let expected = Hex.encode(hasher.finalize())

            // Idle RSS of every master process, then the peak while the file moves.
            let masters = cluster.processes.filter { $0.name.hasPrefix("registry") || $0.name.hasPrefix("gateway") || $0.name.hasPrefix("worker") }
            try await Task.sleep(for: .milliseconds(500))
            let idle = Dictionary(uniqueKeysWithValues: masters.map { ($0.name, rssBytes($0.pid) ?? 0) })
            let peak = Mutex<[String: UInt64]>(idle)
            let sampler = Task {
                while !Task.isCancelled {
                    for process in masters {
                        let now = rssBytes(process.pid) ?? 0
                        peak.withLock { $0[process.name] = max($0[process.name] ?? 0, now) }
                    }
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
            defer { sampler.cancel() }  // on every path, not only the one below

            let url = "\(gatewayA.http)/api/v1/agents/\(id)/callbacks?wait=120"
            let (status, body) = try await HTTP.post(url, token: cluster.adminToken, body: Data(#"{"kind":"logs","args":{"file":"big.log"}}"#.utf8), timeout: 130)
            #expect(status == 200, "\(String(decoding: body.prefix(500), as: UTF8.self))\n\(cluster.logs())")
            let record = try FleetJSON.decoder().decode(RequestRecord.self, from: body)
            #expect(record.state == .completed, "\(record.error ?? "")")
            let summary = try FleetJSON.decode(ContentSummary.self, from: FleetJSON.encode(try #require(record.result)))
            #expect(summary.bytes == UInt64(size))
            #expect(summary.sha256 == expected, "the gateway's hash of what it received")

            // Download from the other gateway, hashing as it streams in.
            let downloaded = try await download("\(gatewayB.http)/api/v1/requests/\(record.id)/content", token: cluster.adminToken, into: cluster.directory.appendingPathComponent("got.bin"))
            sampler.cancel()
            _ = await sampler.result
            #expect(downloaded.bytes == size)
            #expect(downloaded.sha256 == expected, "byte-identical")

            let growth = peak.withLock { $0 }.map { name, value in (name, Int64(value) - Int64(idle[name] ?? 0)) }
            for (name, grew) in growth {
                #expect(grew < 64 * 1_048_576, "\(name) grew \(grew / 1_048_576) MiB above idle (\((idle[name] ?? 0) / 1_048_576) MiB)")
            }
            print("log transfer RSS growth (MiB):", growth.sorted { $0.0 < $1.0 }.map { "\($0.0)=\($0.1 / 1_048_576)" }.joined(separator: " "))
        }
    }

    @Test("refused: ../../etc/passwd, an absolute path, a symlink out of the log dir; the agent stays connected")
    func refusals() async throws {
        try await withCluster("logs-refuse") { cluster in
            let master = try await cluster.startServe()
            let (_, id) = try await cluster.startAgent("agent", urls: [master.ws])
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.states(master)[id] == .online })
            let logs = cluster.directory.appendingPathComponent("agent/logs")
            try FileManager.default.createSymbolicLink(atPath: logs.appendingPathComponent("escape.log").path, withDestinationPath: "/etc/passwd")
            try "inside\n".write(to: logs.appendingPathComponent("ok.log"), atomically: true, encoding: .utf8)

            for (file, reason) in [("../../etc/passwd", "leaves the log directory"), ("/etc/passwd", "absolute path"), ("escape.log", "outside the log directory")] {
                let body = Data(#"{"kind":"logs","args":{"file":"\#(file)"}}"#.utf8)
                let (status, answer) = try await HTTP.post("\(master.http)/api/v1/agents/\(id)/callbacks?wait=20", token: cluster.adminToken, body: body)
                #expect(status == 200)
                let record = try FleetJSON.decoder().decode(RequestRecord.self, from: answer)
                #expect(record.state == .failed, "\(file) must be refused")
                #expect(record.error?.contains(reason) == true, "\(file): \(record.error ?? "-")")
                #expect(try await cluster.states(master)[id] == .online, "still connected after refusing \(file)")
            }
            // A file inside, with tail: the last 3 bytes.
            let body = Data(#"{"kind":"logs","args":{"file":"ok.log","tail":3}}"#.utf8)
            let (_, answer) = try await HTTP.post("\(master.http)/api/v1/agents/\(id)/callbacks?wait=20", token: cluster.adminToken, body: body)
            let record = try FleetJSON.decoder().decode(RequestRecord.self, from: answer)
            #expect(record.state == .completed)
            let (status, content) = try await HTTP.get("\(master.http)/api/v1/requests/\(record.id)/content", token: cluster.adminToken)
            #expect(status == 200)
            #expect(String(decoding: content, as: UTF8.self) == "de\n")
        }
    }

    @Test("content of an unfinished request: ?wait=0 is 409 at once; a waiting GET is served when the request completes meanwhile")
    func contentWaits() async throws {
        try await withCluster("logs-wait") { cluster in
            let master = try await cluster.startServe()
            let (agent, id) = try await cluster.startAgent("agent", urls: [master.ws])
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.states(master)[id] == .online })
            try "hello\n".write(to: cluster.directory.appendingPathComponent("agent/logs/ok.log"), atomically: true, encoding: .utf8)

            // The agent paused (SIGSTOP), so the request stays dispatched; resumed on every path.
            agent.signal(SIGSTOP)
            defer { agent.signal(SIGCONT) }
            let (created, answer) = try await cluster.callback(master, agent: id, kind: "logs", args: #"{"file":"ok.log"}"#)
            #expect(created == 202, "\(String(decoding: answer, as: UTF8.self))")
            let requestId = try FleetJSON.decoder().decode(CallbackAccepted.self, from: answer).requestId
            let url = "\(master.http)/api/v1/requests/\(requestId)/content"

            let (refused, reason) = try await HTTP.get("\(url)?wait=0", token: cluster.adminToken)
            #expect(refused == 409, "\(String(decoding: reason, as: UTF8.self))")
            #expect(String(decoding: reason, as: UTF8.self).contains("not_ready"))

            let token = cluster.adminToken
            let waiting = Task { try await HTTP.get("\(url)?wait=30", token: token, timeout: 40) }
            try await Task.sleep(for: .seconds(1))
            agent.signal(SIGCONT)
            let (status, content) = try await waiting.value
            #expect(status == 200, "\(String(decoding: content.prefix(300), as: UTF8.self))")
            #expect(String(decoding: content, as: UTF8.self) == "hello\n")
        }
    }

    @Test("an upload over callbacks.max_upload is 413: the request fails at once with the limit as its reason, never with a truncated file")
    func tooLarge() async throws {
        try await withCluster("logs-413") { cluster in
            let master = try await cluster.startServe(["--set", "callbacks.max_upload=100000", "--set", "callbacks.timeout=2", "--set", "callbacks.attempts=1"])
            let (agent, id) = try await cluster.startAgent("agent", urls: [master.ws])
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.states(master)[id] == .online })
            try Data(count: 200_000).write(to: cluster.directory.appendingPathComponent("agent/logs/big.log"))
            let (_, answer) = try await HTTP.post(
                "\(master.http)/api/v1/agents/\(id)/callbacks?wait=20", token: cluster.adminToken, body: Data(#"{"kind":"logs","args":{"file":"big.log"}}"#.utf8)
            )
            let record = try FleetJSON.decoder().decode(RequestRecord.self, from: answer)
            #expect(record.state == .failed)
            #expect(record.error?.contains("100000-byte limit (callbacks.max_upload)") == true, "\(record.error ?? "-")")
            #expect(record.attempts == 1)
            #expect(agent.stderr.contains("upload refused"), "\(agent.stderr.suffix(2000))")
        }
    }

    /// Streams a download to disk, hashing as it goes.
    func download(_ url: String, token: String, into file: URL) async throws -> (bytes: Int, sha256: String) {
        var request = URLRequest(url: URL(string: url)!)
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        let (location, response) = try await HTTP.session.download(for: request)
        defer { try? FileManager.default.removeItem(at: location) }  // 100 MiB in $TMPDIR otherwise
        guard (response as? HTTPURLResponse)?.statusCode == 200 else { throw HarnessError("download: \(response)") }
        let handle = try FileHandle(forReadingFrom: location)
        defer { try? handle.close() }
        var hasher = SHA256()
        var total = 0
        while let block = try handle.read(upToCount: 1_048_576), !block.isEmpty {
            hasher.update(data: block)
            total += block.count
        }
        return (total, Hex.encode(hasher.finalize()))
    }
}

/// VmRSS of a process, from /proc.
func rssBytes(_ pid: Int32) -> UInt64? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kb = line.split(separator: " ").dropFirst().first.flatMap({ UInt64($0) })
    else { return nil }
    return kb * 1024
}
