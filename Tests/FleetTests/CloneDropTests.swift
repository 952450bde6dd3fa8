@testable import Bus
import FleetProtocol
import Foundation
import Logging
import Testing
import ZeroMQ

/// PUB drops, made for real: a replica that stops reading its SUB while the server publishes
/// far more than the two small HWMs hold. libzmq drops the excess silently; the replica must
/// count exactly what it missed (its gap counter and missed-updates figure, which its gateway
/// exports) and resync to the exact state.
@Suite("Clone drops counted", .serialized)
struct CloneDropTests {
    @Test("a SUB that stops reading makes the PUB drop; the replica counts the gap and what it missed, then resyncs")
    func slowSubscriberDrops() async throws {
        let context = BusContext(lingerMilliseconds: 0)
        let logger = Logger(label: "test")
        let name = UUID().uuidString
        let source = CloneReplicationTests.Source()
        let server = try CloneServer(
            context: context, updates: "inproc://\(name).u", snapshot: "inproc://\(name).s", security: .none, epoch: "e1",
            updatesHighWaterMark: 100, logger: logger
        )
        let replica = try CloneReplica(
            context: context, updates: "inproc://\(name).u", snapshot: "inproc://\(name).s", security: .none,
            updatesHighWaterMark: 100, logger: logger
        )
        let tasks = [Task { await server.serve(snapshot: { source.snapshot }) }, Task { await replica.run() }]
        // An upper bound for a machine busy with the rest of the suite.
        #expect(await eventually(timeout: .seconds(20)) { replica.status.synced })
        #expect(replica.status.gaps == 0 && replica.status.missedUpdates == 0 && replica.status.resyncs == 0)

        // The gateway stalls. What it can still take: 100 + 100 in the pipe and at most 16
        // batches in its receive thread; 40,000 updates are far more than that.
        replica.updateGate.close()
        let total: UInt64 = 40_000
        for index in 0..<Int(total) {
            let (seq, record) = source.change("agent-\(index % 500)", index % 2 == 0 ? .online : .offline)
            try await server.publish(seq: seq, record: record)
            if index % 500 == 0 { await Task.yield() }
        }
        replica.updateGate.open()

        // The registry beats every second with its current seq (the last updates were dropped
        // too, so only a beat can tell the replica it is behind); here, every poll.
        #expect(await eventually(timeout: .seconds(20)) {
            try await server.publishHugz(seq: total)
            return replica.status.synced && replica.status.seq == total
        })
        let status = replica.status
        #expect(status.gaps >= 1, "the break in the sequence was seen")
        #expect(status.resyncs >= 1, "and repaired by a snapshot")
        // At least everything beyond what the queues and the 16 pending batches could hold.
        #expect(status.missedUpdates >= total - 200 - 16 * 1024, "missed: \(status.missedUpdates)")
        #expect(status.missedUpdates < total)
        #expect(Dictionary(uniqueKeysWithValues: replica.agents().map { ($0.id, $0.state) }) == source.state.withLock { $0.records.mapValues(\.state) })
        for task in tasks { task.cancel() }
        await context.shutdown()
    }
}
