import FleetProtocol
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOWebSocket
import Synchronization

/// A minimal agent written from docs/protocol.md, for tests that need to hold a reply token
/// or send exactly the frames they choose. Everything else uses the real `agent` binary.
final class TestAgent: Sendable {
    let id: String
    private let frames: AsyncStream<MasterMessage>
    private let framesWriter: AsyncStream<MasterMessage>.Continuation
    private let outbound = Mutex<WebSocketOutboundWriter?>(nil)
    private let connection = Mutex<Task<Void, any Error>?>(nil)
    private let closeFrame = Mutex<Int?>(nil)
    private let failure = Mutex<(any Error)?>(nil)

    init(id: String = "test-" + UUID().uuidString.prefix(8).lowercased()) {
        self.id = id
        (frames, framesWriter) = AsyncStream.makeStream(of: MasterMessage.self)
    }

    /// The credential the gateway issued in the welcome of the session that enrolled this agent.
    var credential: String? { issued.withLock { $0 } }
    private let issued = Mutex<String?>(nil)

    /// Connects, says hello, and returns once the gateway answers (welcome or error).
    /// `token` is the enrollment token (or, with `credential`, sent beside it); `helloId`
    /// lets a test name another id in its hello than in its upgrade.
    func connect(url: String, token: String, credential: String? = nil, helloId: String? = nil) async throws -> MasterMessage {
        var headers = HTTPFields()
        headers[HTTPField.Name("X-Fleet-Agent-Id")!] = id
        if let credential {
            headers[.authorization] = "Bearer \(credential)"
            headers[HTTPField.Name("X-Fleet-Enrollment-Token")!] = token
        } else {
            headers[.authorization] = "Bearer \(token)"
        }
        let hello = AgentMessage.hello(.init(
            agent: AgentInfo(id: helloId ?? id, hostname: "test-host", os: OSInfo(name: "Test", version: "1", kernel: "0", arch: "x"), agentVersion: "test"),
            metrics: MetricsSnapshot(timestamp: Date(), seq: 1)
        ))
        let writer = framesWriter
        let task = Task { [self] in
            // Whatever ends the connection ends the frame stream too, so a waiting `next`
            // returns at once; a failed connect is kept to be reported, not timed out on.
            defer { writer.finish() }
            let close: WebSocketCloseFrame?
            do {
                close = try await WebSocketClient.connect(
                    url: url, configuration: .init(maxFrameSize: 1 << 20, additionalHeaders: headers), logger: Logger(label: "test-agent")
                ) { inbound, outbound, _ in
                    self.outbound.withLock { $0 = outbound }
                    try await outbound.write(.text(try FleetJSON.encodeString(hello)))
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        if case .text(let text) = message, let frame = try? FleetJSON.decode(MasterMessage.self, from: text) {
                            if case .welcome(let welcome) = frame, let credential = welcome.credential {
                                self.issued.withLock { $0 = credential }
                            }
                            writer.yield(frame)
                        }
                    }
                }
            } catch {
                self.failure.withLock { $0 = error }
                throw error
            }
            if let close {
                self.closeFrame.withLock { $0 = Int(Self.number(close.closeCode)) }
            }
        }
        connection.withLock { $0 = task }
        guard let first = try await next(timeout: .seconds(10)) else {
            if let error = failure.withLock({ $0 }) { throw HarnessError("connect failed: \(error)") }
            throw HarnessError("no answer to hello within 10 s (connection \(closeFrame.withLock { $0 }.map { "closed \($0)" } ?? "open"))")
        }
        return first
    }

    /// The next frame from the gateway, or nil on timeout or close.
    func next(timeout: Duration) async throws -> MasterMessage? {
        let frames = self.frames
        return await withTaskGroup(of: MasterMessage?.self) { group in
            group.addTask {
                var iterator = frames.makeAsyncIterator()
                return await iterator.next()
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    /// Waits for the next callback frame.
    func nextCallback(timeout: Duration = .seconds(10)) async throws -> MasterMessage.Callback {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if case .callback(let callback) = try await next(timeout: deadline - ContinuousClock.now) { return callback }
        }
        throw HarnessError("no callback frame within \(timeout)")
    }

    func send(_ message: AgentMessage) async throws {
        guard let outbound = outbound.withLock({ $0 }) else { throw HarnessError("not connected") }
        try await outbound.write(.text(try FleetJSON.encodeString(message)))
    }

    func sendRaw(_ text: String) async throws {
        guard let outbound = outbound.withLock({ $0 }) else { throw HarnessError("not connected") }
        try await outbound.write(.text(text))
    }

    /// Any frame, as built (the client masks it): fragments, reserved bits, bytes that are
    /// not UTF-8 in a text frame.
    func sendFrame(_ frame: WebSocketFrame) async throws {
        guard let outbound = outbound.withLock({ $0 }) else { throw HarnessError("not connected") }
        try await outbound.write(.custom(frame))
    }

    /// The close code the gateway sent, once the connection has ended (nil on timeout).
    func closeCode(timeout: Duration) async -> Int? {
        let task = connection.withLock { $0 }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let code = closeFrame.withLock({ $0 }) { return code }
            try? await Task.sleep(for: .milliseconds(20))
        }
        _ = task
        return nil
    }

    static func number(_ code: WebSocketErrorCode) -> UInt16 {
        switch code {
        case .normalClosure: 1000
        case .goingAway: 1001
        case .protocolError: 1002
        case .unacceptableData: 1003
        case .dataInconsistentWithMessage: 1007
        case .policyViolation: 1008
        case .messageTooLarge: 1009
        case .missingExtension: 1010
        case .unexpectedServerError: 1011
        case .unknown(let value): value
        }
    }

    func close() async {
        if let outbound = outbound.withLock({ $0 }) { try? await outbound.close(.normalClosure, reason: nil) }
        _ = await connection.withLock({ $0 })?.result
    }
}

extension HTTP {
    /// `timeout`: how long the answer may take to start (a long poll with `?wait=` needs more
    /// than the session's 5 s).
    static func post(
        _ url: String, token: String?, body: Data, contentType: String = "application/json", timeout: TimeInterval? = nil
    ) async throws -> (status: Int, body: Data) {
        var request = URLRequest(url: URL(string: url)!)
        if let timeout { request.timeoutInterval = timeout }
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await session.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }
}
