import Foundation
import Synchronization
import Testing
import ZeroMQ

@Suite("ZeroMQ socket patterns")
struct PatternTests {
    @Test("PUB/SUB delivers only subscribed topics", arguments: Transport.allCases)
    func pubSubTopicFiltering(transport: Transport) async throws {
        let context = ZMQContext()
        let pub = try context.socket(.pub)
        let endpoint = try pub.bind(transport.bindEndpoint())
        let sub = try context.socket(.sub)
        try sub.subscribe("fleet.")
        try sub.connect(endpoint)
        let receiver = try sub.receiver()

        // A SUB joins late (zguide "slow joiner"): publish a sync message until it shows up.
        let synced = Task {
            for try await batch in receiver where batch.contains(where: { $0.string(at: 0) == "fleet.sync" }) {
                return true
            }
            return false
        }
        let syncer = Task {
            while !Task.isCancelled {
                try await pub.send(ZMQMessage(strings: ["fleet.sync", ""]))
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        #expect(try await synced.value)
        syncer.cancel()
        _ = await syncer.result

        for index in 0..<50 {
            try await pub.send(ZMQMessage(strings: ["other.\(index)", "x"]))
            try await pub.send(ZMQMessage(strings: ["fleet.\(index)", "y"]))
        }
        try await pub.send(ZMQMessage(strings: ["fleet.end", ""]))
        let received = try await collect(from: receiver) { $0.contains { $0.string(at: 0) == "fleet.end" } }
        let topics = received.compactMap { $0.string(at: 0) }.filter { $0 != "fleet.sync" }
        #expect(topics == (0..<50).map { "fleet.\($0)" } + ["fleet.end"])
        #expect(!topics.contains { $0.hasPrefix("other.") })
        await context.shutdown()
    }

    @Test("PUSH spreads work over two PULLs and loses none", arguments: Transport.allCases)
    func pushToTwoPulls(transport: Transport) async throws {
        let context = ZMQContext()
        let push = try context.socket(.push)
        try push.setImmediate(true)
        let endpoint = try push.bind(transport.bindEndpoint())
        let pulls = try (0..<2).map { _ in
            let pull = try context.socket(.pull)
            try pull.connect(endpoint)
            return pull
        }
        let counts = Counts()
        var consumers: [Task<Void, Never>] = []
        for (index, pull) in pulls.enumerated() {
            let receiver = try pull.receiver()
            consumers.append(Task { [counts] in
                for await batch in receiver {
                    counts.add(batch.count, at: index)
                }
            })
        }
        // Send until both workers have had work (connections complete asynchronously), then more.
        // The deadline is an upper bound for a loaded full run, where this process's tasks can
        // stall for many seconds (it failed once at 10 s there); alone it takes milliseconds.
        var sent = 0
        let deadline = ContinuousClock.now + .seconds(60)
        while counts.value.contains(0) && ContinuousClock.now < deadline {
            try await push.send(ZMQMessage(strings: ["job \(sent)"]))
            sent += 1
            try await Task.sleep(for: .milliseconds(2))
        }
        for _ in 0..<1000 {
            try await push.send(ZMQMessage(strings: ["job \(sent)"]))
            sent += 1
        }
        let total = sent
        while counts.value.reduce(0, +) < total && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        let final = counts.value
        #expect(final[0] > 0 && final[1] > 0, "both PULLs got work: \(final)")
        #expect(final.reduce(0, +) == total)
        await context.shutdown()
        for consumer in consumers { await consumer.value }
    }

    @Test("DEALER/ROUTER request-reply", arguments: Transport.allCases)
    func dealerRouter(transport: Transport) async throws {
        let context = ZMQContext()
        let router = try context.socket(.router)
        try router.setRouterMandatory(true)
        let endpoint = try router.bind(transport.bindEndpoint())
        let dealer = try context.socket(.dealer)
        try dealer.setRoutingID(Array("client-1".utf8))
        try dealer.connect(endpoint)

        let server = Task {
            for await batch in try router.receiver() {
                for request in batch {
                    // [identity][payload]: answer to the same identity.
                    let identity = request.frames[0]
                    let n = Int(request.string(at: 1) ?? "") ?? -1
                    try await router.send([identity, Array("reply \(n * 2)".utf8)])
                }
            }
        }
        let replies = try dealer.receiver()
        for n in 1...20 {
            try await dealer.send([Array("\(n)".utf8)])
        }
        let received = try await collect(from: replies) { $0.count == 20 }
        #expect(received.map { $0.string(at: 0) } == (1...20).map { "reply \($0 * 2)" })
        await context.shutdown()
        _ = await server.result
    }

    @Test("multipart messages arrive whole, empty and binary frames included", arguments: Transport.allCases)
    func multipart(transport: Transport) async throws {
        let context = ZMQContext()
        let pull = try context.socket(.pull)
        let endpoint = try pull.bind(transport.bindEndpoint())
        let push = try context.socket(.push)
        try push.connect(endpoint)
        let message = ZMQMessage([
            Array("topic".utf8), [], [0, 1, 2, 255, 0], Array(repeating: 7, count: 100_000), Array("last".utf8),
        ])
        try await push.send(message)
        try await push.send(ZMQMessage(strings: ["single"]))
        let received = try await collect(from: try pull.receiver()) { $0.count == 2 }
        #expect(received.first == message)
        #expect(received.last == ZMQMessage(strings: ["single"]))
        await context.shutdown()
    }

    @Test("a mandatory ROUTER reports an unknown peer instead of dropping silently")
    func routerUnknownPeer() async throws {
        let context = ZMQContext()
        let router = try context.socket(.router)
        try router.setRouterMandatory(true)
        _ = try router.bind(Transport.inproc.bindEndpoint())
        await #expect(throws: ZMQError.self) {
            try await router.send([Array("nobody".utf8), Array("hi".utf8)])
        }
        await context.shutdown()
    }
}

/// Per-worker message counts shared between consumer tasks and the test.
final class Counts: Sendable {
    private let storage = Mutex([0, 0])
    func add(_ n: Int, at index: Int) { storage.withLock { $0[index] += n } }
    var value: [Int] { storage.withLock { $0 } }
}
