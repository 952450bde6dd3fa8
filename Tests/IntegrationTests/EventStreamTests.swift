import FleetProtocol
import Foundation
import Testing

@Suite("Live events (SSE)", .serialized)
struct EventStreamTests {
    @Test("a client that reconnects with Last-Event-ID misses no event and sees none twice")
    func resume() async throws {
        try await withCluster("sse") { cluster in
            let master = try await cluster.startServe()
            let first = cluster.testAgent()
            _ = try await first.connect(url: master.ws, token: cluster.agentToken)

            let client = try SSEClient(port: master.port, path: "/api/v1/events", token: cluster.adminToken)
            // A fresh client gets live events only. Its subscription starts when the gateway has
            // read the request, so keep heartbeats coming until one shows up, and note its id.
            let beats = Task {
                var seq: UInt64 = 2
                while !Task.isCancelled {
                    try? await first.send(.heartbeat(.init(metrics: MetricsSnapshot(timestamp: Date(), seq: seq))))
                    seq += 1
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            defer { beats.cancel() }  // on every path, not only the one below
            let seen = await client.events(timeout: .seconds(10)) { $0.contains { $0.data.contains(first.id) } }
            beats.cancel()
            _ = await beats.result
            #expect(client.status == 200)
            let last = try #require(seen.last)
            client.close()

            // While the client is away: a second agent comes online, the first disconnects.
            let second = cluster.testAgent()
            _ = try await second.connect(url: master.ws, token: cluster.agentToken)
            await first.close()
            #expect(await eventually(timeout: .seconds(5)) { try await cluster.states(master)[first.id] == .disconnected })

            let resumed = try SSEClient(port: master.port, path: "/api/v1/events", token: cluster.adminToken, lastEventId: last.id)
            let missed = await resumed.events(timeout: .seconds(10)) { events in
                events.contains { $0.type == "agent.disconnected" && $0.data.contains(first.id) }
            }
            let types = missed.map { "\($0.type) \($0.data.contains(first.id) ? "first" : "second")" }
            #expect(types.contains("agent.online second"), "\(types)")
            #expect(types.contains("agent.disconnected first"), "\(types)")
            #expect(!missed.contains { $0.id == last.id }, "nothing before the resume point again")
            let sequence = missed.compactMap { UInt64($0.id.split(separator: "-").last ?? "") }
            #expect(sequence == sequence.sorted() && Set(sequence).count == sequence.count, "in order, once each: \(sequence)")

            // An id the gateway no longer has: a reset, so the client reloads the state.
            let stale = try SSEClient(port: master.port, path: "/api/v1/events", token: cluster.adminToken, lastEventId: "nope-1")
            let reset = await stale.events(timeout: .seconds(5)) { !$0.isEmpty }
            #expect(reset.first?.type == "reset")
            // Without the admin token: 401.
            let anonymous = try SSEClient(port: master.port, path: "/api/v1/events", token: "wrong")
            _ = await anonymous.events(timeout: .seconds(10)) { _ in anonymous.status != 0 }
            #expect(anonymous.status == 401)
            await second.close()
        }
    }
}
