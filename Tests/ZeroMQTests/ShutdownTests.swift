import Foundation
import Testing
import ZeroMQ

@Suite("ZeroMQ graceful shutdown")
struct ShutdownTests {
    static let count = 20_000

    @Test("tcp: a PUSH that shuts down right after sending still delivers everything it queued")
    func tcpQueuedMessagesDelivered() async throws {
        let receiving = ZMQContext()
        let pull = try receiving.socket(.pull)
        let endpoint = try pull.bind(Transport.tcp.bindEndpoint())
        let receiver = try pull.receiver()

        let sending = ZMQContext(lingerMilliseconds: 10_000)
        let push = try sending.socket(.push)
        try push.connect(endpoint)
        for index in 0..<Self.count {
            try await push.send(ZMQMessage(strings: ["\(index)"]))
        }
        // Most of these are still queued in libzmq now; shutdown must flush them.
        await sending.shutdown()
        #expect(sending.openSocketCount == 0)

        let received = try await collect(from: receiver) { $0.count >= Self.count }
        #expect(received.count == Self.count)
        #expect(received.last?.string(at: 0) == "\(Self.count - 1)")
        await receiving.shutdown()
    }

    @Test("inproc: closing the sender keeps its queued messages for the receiver")
    func inprocQueuedMessagesDelivered() async throws {
        let context = ZMQContext()
        let pull = try context.socket(.pull)
        let endpoint = try pull.bind(Transport.inproc.bindEndpoint())
        let push = try context.socket(.push)
        try push.connect(endpoint)
        for index in 0..<1000 {
            try await push.send(ZMQMessage(strings: ["\(index)"]))
        }
        await push.close()
        let received = try await collect(from: try pull.receiver()) { $0.count >= 1000 }
        #expect(received.count == 1000)
        await context.shutdown()
    }

    @Test("shutdown leaves no thread of the context running", arguments: Transport.allCases)
    func noThreadsLeft(transport: Transport) async throws {
        let context = ZMQContext(ioThreads: 2)
        let prefix = "\(context.threadNamePrefix)"
        let pull = try context.socket(.pull)
        let endpoint = try pull.bind(transport.bindEndpoint())
        let sub = try context.socket(.sub)
        try sub.subscribe("")
        let pub = try context.socket(.pub)
        let pubEndpoint = try pub.bind(transport.bindEndpoint())
        try sub.connect(pubEndpoint)
        let push = try context.socket(.push)
        try push.connect(endpoint)
        let receiver = try pull.receiver()
        _ = try sub.receiver()
        try await push.send(ZMQMessage(strings: ["hello"]))
        _ = try await collect(from: receiver) { $0.count == 1 }

        func ours() -> [String] {
            threadNames().filter { $0 == "zmq-rx-\(prefix)" || $0.hasPrefix("\(prefix)/ZMQbg/") }
        }
        // Two receive threads and libzmq's I/O + reaper threads are running now.
        #expect(ours().filter { $0.hasPrefix("zmq-rx") }.count == 2, "threads: \(threadNames())")
        #expect(ours().count >= 4, "threads: \(threadNames())")

        await context.shutdown()
        #expect(ours().isEmpty, "left running: \(ours())")
        #expect(context.openSocketCount == 0)
    }

    @Test("sockets refuse work after shutdown with a clear error")
    func closedSocketErrors() async throws {
        let context = ZMQContext()
        let push = try context.socket(.push)
        await context.shutdown()
        #expect(push.isClosed)
        await #expect(throws: ZMQError.self) { try await push.send(ZMQMessage(strings: ["late"])) }
        #expect(throws: ZMQError.self) { try context.socket(.pull) }
    }
}
