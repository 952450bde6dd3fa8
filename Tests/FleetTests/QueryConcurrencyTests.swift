import Bus
import FleetProtocol
import Foundation
import Logging
import Synchronization
import Testing
import ZeroMQ

/// The registry answers queries (history, peers, content) beside snapshots, concurrently but
/// at most `CloneServer.maxConcurrentQueries` at once: one more is told `busy` at once, so
/// stalled queries cannot pile up without bound.
@Suite("Query concurrency", .serialized)
struct QueryConcurrencyTests {
    /// Holds every query until released, counting how many are held.
    final class Hold: Sendable {
        let state = Mutex<(held: Int, waiting: [CheckedContinuation<Void, Never>], released: Bool)>((0, [], false))

        func wait() async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let go = state.withLock { state -> Bool in
                    state.held += 1
                    if state.released { return true }
                    state.waiting.append(continuation)
                    return false
                }
                if go { continuation.resume() }
            }
        }

        func release() {
            let waiting = state.withLock { state in
                state.released = true
                defer { state.waiting = [] }
                return state.waiting
            }
            for waiter in waiting { waiter.resume() }
        }
    }

    @Test("64 stalled queries: the 65th is answered busy at once; once they finish, queries are answered again")
    func boundedQueries() async throws {
        let context = BusContext(lingerMilliseconds: 0)
        let logger = Logger(label: "test")
        let name = UUID().uuidString
        let server = try CloneServer(
            context: context, updates: "inproc://\(name).u", snapshot: "inproc://\(name).s", security: .none, epoch: "e1", logger: logger
        )
        let client = try RegistryClient(context: context, endpoint: "inproc://\(name).s", security: .none, logger: logger)
        let hold = Hold()
        let tasks = [
            Task {
                await server.serve(snapshot: { CloneServer.State(seq: 0, agents: [], requests: []) }) { _, _ in
                    await hold.wait()
                    return .success(Array("done".utf8))
                }
            },
            Task { await client.run() },
        ]
        let stalled = (0..<CloneServer.maxConcurrentQueries).map { _ in
            Task { await client.query(RegistryQuery.Peers.kind, RegistryQuery.Peers(), timeout: .seconds(30)) }
        }
        // An upper bound for a busy machine.
        #expect(await eventually(timeout: .seconds(10)) { hold.state.withLock { $0.held } == CloneServer.maxConcurrentQueries })

        // Timeouts here are upper bounds for a loaded full run (the whole process's tasks can
        // stall for seconds there; CI once timed out the last query below at 5 s), not latencies.
        let refused = await client.query(RegistryQuery.Peers.kind, RegistryQuery.Peers(), timeout: .seconds(30))
        #expect(refused.failureCode == "busy", "\(refused)")
        #expect(hold.state.withLock { $0.held } == CloneServer.maxConcurrentQueries, "the refused one never ran")

        hold.release()
        for task in stalled { #expect(await task.value.successText == "done") }
        let after = await client.query(RegistryQuery.Peers.kind, RegistryQuery.Peers(), timeout: .seconds(30))
        #expect(after.successText == "done", "slots are given back: \(after)")
        for task in tasks { task.cancel() }
        await context.shutdown()
    }
}

extension Result<[UInt8], QueryError> {
    var failureCode: String? { if case .failure(let error) = self { error.code } else { nil } }
    var successText: String? { if case .success(let bytes) = self { String(decoding: bytes, as: UTF8.self) } else { nil } }
}
