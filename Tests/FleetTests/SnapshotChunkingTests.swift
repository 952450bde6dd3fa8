@testable import Bus
import FleetProtocol
import Foundation
import Logging
import Testing
import ZeroMQ

/// Snapshot chunks are bounded in bytes, so the replica's per-chunk wait means the same link
/// speed whatever the fleet holds (and no chunk nears the 64 MiB message limit).
@Suite("Snapshot chunking", .serialized)
struct SnapshotChunkingTests {
    static func request(_ index: Int, resultBytes: Int) -> RequestRecord {
        var record = RequestRecord(
            id: "r-\(index)", agentId: "a", kind: .exec, args: .object([:]), maxAttempts: 1, createdAt: Date(timeIntervalSince1970: 0)
        )
        record.state = .completed
        record.result = .string(String(repeating: "x", count: resultBytes))
        return record
    }

    // Sizes scaled down (a 256 KiB bound) to keep a debug build's JSON encoding short: the
    // test runs on the cooperative pool.
    @Test("500 requests of 10 KB results under a 256 KiB bound: bounded pieces that decode to the same records in order")
    func boundedPieces() throws {
        let chunk = SnapshotChunk(agents: [], requests: (0..<500).map { Self.request($0, resultBytes: 10_000) })
        #expect(try FleetJSON.encode(chunk).count > 5_000_000)
        let pieces = try SnapshotChunking.encode(chunk, maxBytes: 262_144)
        #expect(pieces.count >= 19)
        #expect(pieces.allSatisfy { $0.count <= 262_144 })
        let decoded = try pieces.flatMap { try FleetJSON.decode(SnapshotChunk.self, from: $0).requests }
        #expect(decoded == chunk.requests)
    }

    @Test("a record larger than the bound travels alone rather than not at all")
    func oversizedRecordAlone() throws {
        let chunk = SnapshotChunk(agents: [], requests: [Self.request(0, resultBytes: 300_000), Self.request(1, resultBytes: 10)])
        let pieces = try SnapshotChunking.encode(chunk, maxBytes: 262_144)
        #expect(pieces.count == 2)
        #expect(try pieces.flatMap { try FleetJSON.decode(SnapshotChunk.self, from: $0).requests } == chunk.requests)
    }

    @Test("a replica syncs from a 6 MB snapshot of one 60-request chunk sent as bounded pieces")
    func replicaSyncs() async throws {
        let context = BusContext(lingerMilliseconds: 0)
        let logger = Logger(label: "test")
        let name = UUID().uuidString
        let requests = (0..<60).map { Self.request($0, resultBytes: 100_000) }
        #expect(try SnapshotChunking.encode(SnapshotChunk(agents: [], requests: requests)).count >= 3)
        let server = try CloneServer(
            context: context, updates: "inproc://\(name).u", snapshot: "inproc://\(name).s", security: .none, epoch: "e1", logger: logger
        )
        let replica = try CloneReplica(
            context: context, updates: "inproc://\(name).u", snapshot: "inproc://\(name).s", security: .none, logger: logger
        )
        let tasks = [
            Task { await server.serve(snapshot: { CloneServer.State(seq: 7, agents: [], requests: requests) }) },
            Task { await replica.run() },
        ]
        // An upper bound for a machine busy with the rest of the suite.
        #expect(await eventually(timeout: .seconds(30)) { replica.status.synced })
        #expect(replica.status.seq == 7 && replica.request(id: "r-59") == requests[59] && replica.requests(agentId: "a").count == 60)
        // (No check that it took a single snapshot: on a loaded run a piece can miss its
        // deadline and the replica asks again, which is the rule, not a failure.)
        for task in tasks { task.cancel() }
        await context.shutdown()
    }
}
