import FleetProtocol
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// Limits (issue 10 item 8): sockets that never send a request, headers trickled a byte at a
/// time, and an agent flooding its session each cost the sender, never the others.
@Suite("Floods and slow clients", .serialized)
struct FloodTests {
    /// Whether the peer has closed `fd` (EOF or reset); false while it is open and silent.
    static func closedByPeer(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let count = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
        if count == 0 { return true }
        if count < 0 { return errno != EAGAIN && errno != EWOULDBLOCK }
        return false
    }

    @Test("1,000 connections that send nothing, and slowloris headers, are cut off by the header timeout; a real agent connects meanwhile")
    func idleConnections() async throws {
        try await withCluster("flood-idle") { cluster in
            let master = try await cluster.startServe(["--set", "server.header_timeout=2"])
            // 1,020 blocking connects, on a thread of their own: not on the two threads of the
            // cooperative pool every other suite of the run needs meanwhile.
            let port = master.port
            let opened: Result<(silent: [Int32], trickling: [Int32]), any Error> = await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    continuation.resume(returning: Result {
                        var silent: [Int32] = [], trickling: [Int32] = []
                        do {
                            for _ in 0..<1000 { silent.append(try RawHTTP.connect(port: port, timeout: timeval(tv_sec: 0, tv_usec: 100_000))) }
                            for _ in 0..<20 {
                                let fd = try RawHTTP.connect(port: port, timeout: timeval(tv_sec: 0, tv_usec: 100_000))
                                let start = Array("GET /api/v1/agents HTTP/1.1\r\nHost: x\r\n".utf8)
                                _ = start.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                                trickling.append(fd)
                            }
                        } catch {
                            for fd in silent + trickling { close(fd) }
                            throw error
                        }
                        return (silent, trickling)
                    })
                }
            }
            let (silent, trickling) = try opened.get()
            defer { for fd in silent + trickling { close(fd) } }
            // While they hold their sockets, a real agent connects and is online.
            let (_, id) = try await cluster.startAgent("agent", urls: [master.ws])
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.states(master)[id] == .online }, "\(cluster.logs())")
            // The slowloris clients keep sending a header byte every 300 ms: progress, but never a head.
            let deadline = ContinuousClock.now + .seconds(8)
            var open = Set(silent + trickling)
            while ContinuousClock.now < deadline, !open.isEmpty {
                for fd in trickling where open.contains(fd) {
                    var byte = UInt8(ascii: "x")
                    _ = send(fd, &byte, 1, Int32(MSG_NOSIGNAL))
                }
                open = open.filter { !Self.closedByPeer($0) }
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(open.isEmpty, "\(open.count) of \(silent.count + trickling.count) connections still open after 8 s")
            let metrics = try await cluster.metricsText(master)
            #expect(metricValue(metrics, "fleet_gateway_connections_timed_out_total", [#"phase="request_head""#]) >= 1020)
            // The gateway kept serving everyone else.
            #expect(try await HTTP.get("\(master.http)/readyz").status == 200)
            #expect(try await cluster.states(master)[id] == .online)
        }
    }

    @Test("an agent sending 10x its frame rate is throttled and told so, stays connected, and another agent is unaffected")
    func rateLimit() async throws {
        try await withCluster("flood-rate") { cluster in
            let master = try await cluster.startServe(["--set", "gateway.agent_rate=5", "--set", "gateway.agent_burst=5"])
            let (_, calm) = try await cluster.startAgent("calm", urls: [master.ws])
            let noisy = cluster.testAgent()
            guard case .welcome = try await noisy.connect(url: master.ws, token: cluster.agentToken) else {
                Issue.record("the noisy agent was not welcomed")
                return
            }
            #expect(await eventually(timeout: .seconds(10)) {
                let states = try await cluster.states(master)
                return states[calm] == .online && states[noisy.id] == .online
            }, "\(cluster.logs())")
            let calmBefore = try #require(try await cluster.agents(master).first { $0.id == calm })

            // 100 heartbeats as fast as they go: far more than ten times the 5/s allowed (the
            // bounds below follow from how long the sending really took, on a busy machine too).
            let started = Date()
            let clock = ContinuousClock.now
            for seq in 1...100 {
                try await noisy.send(.heartbeat(.init(metrics: MetricsSnapshot(timestamp: Date(), seq: UInt64(seq)))))
            }
            let took = (ContinuousClock.now - clock).inSeconds
            #expect(100 / took >= 50, "sent at \(100 / took)/s, not 10x the limit: the test proves nothing")
            let allowed = Int(5 + 5 * took) + 2
            // Told, in so many words.
            var told: MasterMessage.ErrorBody?
            while told == nil, let frame = try await noisy.next(timeout: .seconds(2)) {
                if case .error(let error) = frame, error.code == "rate_limited" { told = error }
            }
            #expect(told != nil, "no rate_limited error frame")
            // What got through is about the burst plus the rate over the 2 s, not the 100 sent.
            // (History is written behind, in batches: wait for the burst's worth to be there.)
            struct History: Decodable { var metrics: [MetricsSnapshot] }
            func accepted() async throws -> [MetricsSnapshot] {
                let (status, body) = try await HTTP.get("\(master.http)/api/v1/agents/\(noisy.id)/metrics?limit=1000", token: cluster.adminToken)
                guard status == 200 else { throw HarnessError("GET metrics: HTTP \(status)") }
                return try FleetJSON.decoder().decode(History.self, from: body).metrics.filter { $0.timestamp >= started.addingTimeInterval(-1) }
            }
            #expect(await eventually(timeout: .seconds(3)) { try await accepted().count >= 5 }, "the burst's worth was stored")
            // Anything past the burst and the rate would land within this second too.
            #expect(await never(within: .seconds(1)) { try await accepted().count > allowed }, "more than \(allowed) of 100 heartbeats accepted in \(took) s")
            let metrics = try await cluster.metricsText(master)
            #expect(metricValue(metrics, "fleet_gateway_frames_throttled_total") >= Double(100 - allowed))
            // Throttled, not cut off; and the calm agent's heartbeats kept arriving throughout.
            #expect(try await cluster.states(master)[noisy.id] == .online)
            #expect(await eventually(timeout: .seconds(5)) {
                let calmAfter = try await cluster.agents(master).first { $0.id == calm }
                return calmAfter?.state == .online && (calmAfter?.lastSeen.timeIntervalSince(calmBefore.lastSeen) ?? 0) >= 1
            }, "the calm agent's heartbeats kept arriving")
            await noisy.close()
        }
    }

    @Test("an agent's clock is not trusted with history: sample times past gateway.max_clock_skew are clamped, replays may be old")
    func clockSkew() async throws {
        try await withCluster("flood-clock") { cluster in
            let master = try await cluster.startServe(["--set", "gateway.max_clock_skew=60"])
            let agent = cluster.testAgent()
            guard case .welcome = try await agent.connect(url: master.ws, token: cluster.agentToken) else {
                Issue.record("not welcomed")
                return
            }
            let now = Date()
            try await agent.send(.heartbeat(.init(metrics: MetricsSnapshot(timestamp: now.addingTimeInterval(86_400 * 365 * 50), seq: 10))))
            try await agent.send(.heartbeat(.init(metrics: MetricsSnapshot(timestamp: Date(timeIntervalSince1970: 0), seq: 11))))
            // A replayed sample from two hours ago is history, not a wrong clock; one from 1970 is not.
            try await agent.send(.samples(.init(metrics: [
                MetricsSnapshot(timestamp: now.addingTimeInterval(-7200), seq: 5),
                MetricsSnapshot(timestamp: Date(timeIntervalSince1970: 0), seq: 6),
            ])))
            struct History: Decodable { var metrics: [MetricsSnapshot] }
            var history: [MetricsSnapshot] = []
            #expect(await eventually(timeout: .seconds(5)) {
                let (_, body) = try await HTTP.get("\(master.http)/api/v1/agents/\(agent.id)/metrics?since=1970-01-01T00:00:00Z", token: cluster.adminToken)
                history = try FleetJSON.decoder().decode(History.self, from: body).metrics
                return Set(history.map(\.seq)).isSuperset(of: [5, 6, 10, 11])
            }, "\(history)")
            let bySeq = Dictionary(history.map { ($0.seq, $0.timestamp) }, uniquingKeysWith: { first, _ in first })
            let future = try #require(bySeq[10]), past = try #require(bySeq[11])
            #expect(future.timeIntervalSince(now) <= 61 && future.timeIntervalSince(now) >= 59, "50 years ahead clamped to +60 s: \(future)")
            #expect(now.timeIntervalSince(past) <= 61 && now.timeIntervalSince(past) >= 59, "1970 clamped to -60 s: \(past)")
            let replay = try #require(bySeq[5]), ancient = try #require(bySeq[6])
            #expect(abs(replay.timeIntervalSince(now.addingTimeInterval(-7200))) < 0.01, "a two-hour-old replay keeps its time")
            #expect(abs(now.timeIntervalSince(ancient) - 30 * 86_400) < 5, "a replay from 1970 is clamped to 30 days")
            let metrics = try await cluster.metricsText(master)
            #expect(metricValue(metrics, "fleet_gateway_samples_clamped_total") >= 3)
            await agent.close()
        }
    }
}
