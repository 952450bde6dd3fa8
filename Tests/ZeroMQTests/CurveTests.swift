import Foundation
import Synchronization
import Testing
import ZeroMQ

/// CURVE in the wrapper: keys, the handshake over real tcp, what a wrong key gets, and the
/// ZAP `User-Id` reaching the receiver. A ZAP handler written here with raw sockets (RFC 27)
/// admits one client key; the bus's own handler is tested in FleetTests.
@Suite("ZeroMQ CURVE", .serialized)
struct CurveTests {
    @Test("libzmq has CURVE; keypairs are fresh, Z85, and the public half derives from the secret")
    func keys() throws {
        #expect(Curve.isAvailable)
        let pair = try CurveKeyPair.generate()
        let other = try CurveKeyPair.generate()
        #expect(pair.publicKey != other.publicKey && pair.secretKey != other.secretKey)
        #expect(pair.publicKey.z85.count == 40 && pair.publicKey.bytes.count == 32)
        #expect(try CurveKeyPair(secretKey: pair.secretKey).publicKey == pair.publicKey)
        #expect(try CurveKey(z85: " \(pair.publicKey.z85)\n") == pair.publicKey, "surrounding whitespace (a file's newline) is fine")
        #expect(!pair.description.contains(pair.secretKey.z85), "a keypair's description never shows the secret")
        #expect(throws: CurveError.self) { try CurveKey(z85: "too short") }
        #expect(throws: CurveError.self) { try CurveKey(z85: String(repeating: "\"", count: 40)) }
    }

    @Test("a client with the server's key and an admitted key gets through tcp; the message carries its ZAP User-Id")
    func handshakeAndUserId() async throws {
        try await withCurveSetup { setup in
            let client = try setup.client(serverKey: setup.server.publicKey, keyPair: setup.admitted)
            try await client.send(ZMQMessage(strings: ["hello", "from alice"]))
            let received = try await collect(from: setup.receiver, timeout: .seconds(10)) { !$0.isEmpty }
            #expect(received.first?.frames == [Array("hello".utf8), Array("from alice".utf8)])
            #expect(received.first?.userId == "alice")
            #expect(setup.zap.decisions.contains { $0.status == "200" && $0.domain == "test" })
        }
    }

    @Test("a client with the wrong server key never gets through, while a right one does")
    func wrongServerKey() async throws {
        try await withCurveSetup { setup in
            let impostorServer = try CurveKeyPair.generate()
            let wrong = try setup.client(serverKey: impostorServer.publicKey, keyPair: setup.admitted)
            try wrong.trySend(ZMQMessage(strings: ["wrong"]))
            let right = try setup.client(serverKey: setup.server.publicKey, keyPair: setup.admitted)
            try await right.send(ZMQMessage(strings: ["right"]))
            // Both have had the same time; once the right one arrived, give the wrong one 1 s more.
            let received = await receive(from: setup.receiver, until: { $0.contains { $0.string(at: 0) == "right" } }, thenFor: .seconds(1))
            #expect(received.map { $0.string(at: 0) } == ["right"])
        }
    }

    @Test("a client key the ZAP handler refuses never gets through; no key at all neither")
    func refusedKeyAndNoKey() async throws {
        try await withCurveSetup { setup in
            let stranger = try setup.client(serverKey: setup.server.publicKey, keyPair: try CurveKeyPair.generate())
            try stranger.trySend(ZMQMessage(strings: ["stranger"]))
            let plain = try setup.context.socket(.push)
            try plain.connect(setup.endpoint)
            try plain.trySend(ZMQMessage(strings: ["plain"]))
            // The refusal is the handler's 400, seen before anything could be delivered.
            #expect(await eventually(timeout: .seconds(10)) { setup.zap.decisions.contains { $0.status == "400" } })
            let right = try setup.client(serverKey: setup.server.publicKey, keyPair: setup.admitted)
            try await right.send(ZMQMessage(strings: ["right"]))
            let received = await receive(from: setup.receiver, until: { $0.contains { $0.string(at: 0) == "right" } }, thenFor: .seconds(1))
            #expect(received.map { $0.string(at: 0) } == ["right"])
        }
    }

    @Test("the socket monitor reports a peer without keys (mechanism mismatch) and one with the wrong server key (cryptographic)")
    func monitorSeesFailedHandshakes() async throws {
        try await withContext(lingerMilliseconds: 0) { context in
            let server = try CurveKeyPair.generate()
            let pull = try context.socket(.pull)
            try pull.makeCurveServer(secretKey: server.secretKey, zapDomain: "test")
            let monitor = try pull.monitor(events: ZMQSocketEvent.handshakeFailedProtocol)
            let endpoint = try pull.bind("tcp://127.0.0.1:*")
            let plain = try context.socket(.push)
            try plain.connect(endpoint)
            let impostor = try context.socket(.push)
            try impostor.makeCurveClient(serverKey: try CurveKeyPair.generate().publicKey, keyPair: try CurveKeyPair.generate())
            try impostor.connect(endpoint)
            let events = try await collect(from: try monitor.receiver()) { messages in
                let values = Set(messages.compactMap(ZMQSocketEvent.init).map(\.value))
                return values.contains(ZMQSocketEvent.protocolErrorMechanismMismatch) && values.contains(ZMQSocketEvent.protocolErrorCryptographic)
            }.compactMap(ZMQSocketEvent.init)
            #expect(events.allSatisfy { $0.event == ZMQSocketEvent.handshakeFailedProtocol && $0.endpoint.hasPrefix("tcp://127.0.0.1:") })
        }
    }

    @Test("without setReceivesUserId the field stays nil (the hot path reads no metadata)")
    func userIdOnlyWhenAsked() async throws {
        try await withCurveSetup(readUserId: false) { setup in
            let client = try setup.client(serverKey: setup.server.publicKey, keyPair: setup.admitted)
            try await client.send(ZMQMessage(strings: ["x"]))
            let received = try await collect(from: setup.receiver) { !$0.isEmpty }
            #expect(received.count == 1 && received.first?.userId == nil)
        }
    }
}

/// A PULL CURVE server on a free loopback port, with a ZAP handler that admits one key as "alice".
final class CurveSetup: Sendable {
    let context = ZMQContext(lingerMilliseconds: 0)
    let server: CurveKeyPair
    let admitted: CurveKeyPair
    let zap: TestZAP
    let pull: ZMQSocket
    let endpoint: String
    let receiver: ZMQReceiver

    init(readUserId: Bool = true) async throws {
        server = try CurveKeyPair.generate()
        admitted = try CurveKeyPair.generate()
        zap = try TestZAP(context: context, admit: admitted.publicKey, as: "alice")
        pull = try context.socket(.pull)
        try pull.makeCurveServer(secretKey: server.secretKey, zapDomain: "test")
        pull.setReceivesUserId(readUserId)
        endpoint = try pull.bind("tcp://127.0.0.1:*")
        receiver = try pull.receiver()
    }

    func client(serverKey: CurveKey, keyPair: CurveKeyPair) throws -> ZMQSocket {
        let push = try context.socket(.push)
        try push.makeCurveClient(serverKey: serverKey, keyPair: keyPair)
        try push.connect(endpoint)
        return push
    }

    func stop() async {
        zap.task.cancel()
        await context.shutdown()
    }
}

/// Runs `body` with a `CurveSetup` and stops it (ZAP task, context) however `body` ends:
/// awaited here, not left to a `Task` that may run after the test or not at all.
func withCurveSetup<T>(readUserId: Bool = true, _ body: (CurveSetup) async throws -> T) async throws -> T {
    let setup = try await CurveSetup(readUserId: readUserId)
    let result: Result<T, any Error>
    do { result = .success(try await body(setup)) } catch { result = .failure(error) }
    await setup.stop()
    return try result.get()
}

/// Runs `body` with a context that is shut down however `body` ends.
func withContext<T>(lingerMilliseconds: Int32, _ body: (ZMQContext) async throws -> T) async throws -> T {
    let context = ZMQContext(lingerMilliseconds: lingerMilliseconds)
    let result: Result<T, any Error>
    do { result = .success(try await body(context)) } catch { result = .failure(error) }
    await context.shutdown()
    return try result.get()
}

/// RFC 27 by hand: `[id][][1.0][reqid][domain][address][identity][mechanism][key]` in,
/// `[id][][1.0][reqid][status][text][user id][metadata]` out.
final class TestZAP: Sendable {
    struct Decision: Sendable {
        var domain: String
        var status: String
    }
    private let log: Locked<[Decision]>
    let task: Task<Void, Never>

    var decisions: [Decision] { log.value }

    init(context: ZMQContext, admit key: CurveKey, as userId: String) throws {
        let router = try context.socket(.router)
        try router.bind("inproc://zeromq.zap.01")
        let receiver = try router.receiver()
        let log = Locked<[Decision]>([])
        self.log = log
        task = Task {
            for await batch in receiver {
                for request in batch where request.frames.count >= 9 {
                    let admitted = request.string(at: 7) == "CURVE" && request.frames[8] == key.bytes
                    let status = admitted ? "200" : "400"
                    log.update { $0.append(Decision(domain: request.string(at: 4) ?? "", status: status)) }
                    try? await router.send([
                        request.frames[0], [], Array("1.0".utf8), request.frames[3], Array(status.utf8), Array("t".utf8),
                        admitted ? Array(userId.utf8) : [], [],
                    ])
                }
            }
        }
    }
}

/// Everything `receiver` delivers until `predicate` holds (at most 10 s), and then for
/// `extra` more (for "and nothing else arrived"): one consuming task throughout, since a
/// cancelled consumer ends the stream for good.
func receive(
    from receiver: ZMQReceiver, until predicate: @escaping @Sendable ([ZMQMessage]) -> Bool, thenFor extra: Duration
) async -> [ZMQMessage] {
    let collected = Locked<[ZMQMessage]>([])
    let consumer = Task {
        for await batch in receiver {
            collected.update { $0.append(contentsOf: batch) }
        }
    }
    _ = await eventually(timeout: .seconds(10)) { predicate(collected.value) }
    try? await Task.sleep(for: extra)
    consumer.cancel()
    return collected.value
}

/// A value shared between tasks (a `Mutex` cannot be captured by an escaping closure).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    var value: Value { mutex.withLock { $0 } }
    func update(_ body: (inout Value) -> Void) { mutex.withLock { body(&$0) } }
}

func eventually(timeout: Duration, _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}
