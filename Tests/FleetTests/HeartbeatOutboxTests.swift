import Bus
import FleetProtocol
import Foundation
import Logging
@testable import Gateway
import Testing

/// The gateway's heartbeat outbox (issue 13): a full bus queue to the registry makes heartbeats
/// wait, one per agent, latest wins, and they go out once there is room (a closed session's
/// beat too: the registry keeps its sample without reviving the session, AgentTableTests).
/// Real ZeroMQ sockets (inproc), no registry, no sleeps to hope on.
@Suite("Gateway heartbeat outbox: coalescing under a full bus")
struct HeartbeatOutboxTests {
    func beat(_ agent: String, session: String = "s", seq: UInt64) throws -> BusEvent.SessionHeartbeat {
        BusEvent.SessionHeartbeat(
            gatewayId: "gw", sessionId: session, agentId: agent,
            metrics: try RawSnapshot(MetricsSnapshot(timestamp: Date(timeIntervalSince1970: 1_800_000_000), seq: seq))
        )
    }

    // A time limit: the receive loop below ends only when everything has arrived, so a lost
    // beat must fail the test rather than hang it.
    @Test("full queue: one waiting beat per agent (newest), all sent once the registry reads", .timeLimit(.minutes(1)))
    func coalescing() async throws {
        let context = BusContext(lingerMilliseconds: 0)
        let endpoint = "inproc://outbox-\(UUID().uuidString)"
        let events = try EventSender(context: context, endpoint: endpoint, security: .none, logger: Logger(label: "test"))
        let outbox = HeartbeatOutbox(events: events)
        // Nobody reads yet: the queue fills to its high-water mark, then beats wait.
        var offered = 0
        while !outbox.isBacklogged {
            outbox.submit(batch: [try beat("filler-\(offered)", seq: 1)])
            offered += 1
            try #require(offered <= Int(BusTuning.eventHighWaterMark) + 1, "the queue never filled")
        }
        #expect(outbox.waitingCount == 1)
        for seq: UInt64 in 1...3 { outbox.submit(batch: [try beat("a", seq: seq)]) }
        outbox.submit(batch: [try beat("b", session: "old", seq: 1)])
        #expect(outbox.waitingCount == 3, "the filler that did not fit, a and b")
        #expect(outbox.coalescedCount == 2, "a's first two were replaced")

        // The registry reads: everything waiting goes out, a with its newest beat only.
        let receiver = try BusReceiver.bind(endpoint, context: context, security: .none, as: .events, highWaterMark: BusTuning.eventHighWaterMark)
        let drain = Task { await outbox.run() }
        var seen: [String: UInt64] = [:]
        var received = 0
        for await batch in try receiver.batches() {
            for message in batch {
                for case .heartbeat(let beat) in try BusEvent.all(frames: message.frames) {
                    received += 1
                    if beat.agentId == "a" || beat.agentId == "b" { seen[beat.agentId] = beat.metrics.seq }
                }
            }
            if received >= offered + 2 { break }
        }
        drain.cancel()
        outbox.finish()
        #expect(seen == ["a": 3, "b": 1], "a's newest beat, and b's")
        #expect(received == offered + 2, "every filler (the one that waited too), a's beat and b's")
        #expect(!outbox.isBacklogged)
        await context.shutdown()
    }
}
