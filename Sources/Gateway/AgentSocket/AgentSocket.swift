import NIOCore
import NIOWebSocket

/// A handle on one agent's WebSocket that any thread may hold (the session table, the
/// registry's commands, shutdown): each call hops to the connection's event loop, where
/// ``AgentSocketHandler`` owns the socket.
final class AgentSocket: Sendable {
    private let handler: NIOLoopBound<AgentSocketHandler>
    private let eventLoop: any EventLoop
    /// Completed once the connection is closed and, for a session, its close announced to the
    /// registry: what a graceful shutdown waits for.
    let finished: EventLoopFuture<Void>

    init(handler: NIOLoopBound<AgentSocketHandler>, eventLoop: any EventLoop, finished: EventLoopFuture<Void>) {
        self.handler = handler
        self.eventLoop = eventLoop
        self.finished = finished
    }

    /// Writes one text frame; throws when the connection is gone (the caller counts it).
    func write(_ text: String) async throws {
        let handler = self.handler
        try await eventLoop.flatSubmit { handler.value.write(text: text) }.get()
    }

    /// Starts the close handshake with `code` (the handler cuts the connection if the agent
    /// does not answer within its close timeout). Returns at once.
    func close(code: Int, reason: String) {
        let handler = self.handler
        eventLoop.execute { handler.value.close(code: code, reason: reason) }
    }

    /// An `error` frame (`error`, `message`), then the close with `code`: a close reason is
    /// cut at 123 bytes, the frame carries all of it.
    func refuse(code: Int, error: String, message: String) {
        let handler = self.handler
        eventLoop.execute { handler.value.refuse(code: code, error: error, message: message) }
    }

    /// Closes and waits until the connection is gone and its close announced, or `limit` (a
    /// session still opening waits on the bus, which may be gone at shutdown).
    func closeAndWait(code: Int, reason: String, limit: Duration = .seconds(5)) async {
        close(code: code, reason: reason)
        let finished = self.finished
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await finished.get() }
            group.addTask { try? await Task.sleep(for: limit) }
            await group.next()
            group.cancelAll()
        }
    }
}
