import FleetSupport
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// `GET /api/v1/events`: server-sent events with an `id:` per event; a client resumes with
/// `Last-Event-ID` (header, or `?lastEventId=` for EventSource-less clients) and misses
/// nothing that is still in the gateway's ring. The admin token comes in the Authorization
/// header only: a token in a URL ends up in access logs and browser history. Browsers read the
/// stream with `fetch()` (the dashboard does), which can send the header; EventSource cannot.
struct EventRoutes {
    let feed: EventFeed
    let tokens: GatewayTokens
    let shutdown: ShutdownSignal
    static let keepAlive: Duration = .seconds(15)

    func register(on router: Router<BasicWebSocketRequestContext>) {
        router.get("api/v1/events") { request, _ in try self.stream(request) }
    }

    func stream(_ request: Request) throws -> Response {
        switch tokens.check(request.headers, for: .admin) {
        case .allowed: break
        case .unauthenticated(let message): throw APIError(status: .unauthorized, code: "unauthorized", message: message)
        case .forbidden(let message): throw APIError(status: .forbidden, code: "forbidden", message: message)
        }
        let lastEventId = request.headers[HTTPField.Name("Last-Event-ID")!] ?? request.uri.queryParameters["lastEventId"].map(String.init)
        let (backlog, live, cancel) = feed.subscribe(after: lastEventId)
        let shutdown = self.shutdown
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                // One writer, one loop: live events, a comment every 15 s so proxies keep the
                // connection, and the end when the gateway shuts down all arrive as outputs.
                let (outputs, output) = AsyncStream.makeStream(of: String.self)
                let pumps = [
                    Task {
                        for await event in live { output.yield(event.frame) }
                        output.finish()
                    },
                    Task {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: Self.keepAlive)
                            output.yield(": keep-alive\n\n")
                        }
                    },
                    Task {
                        await shutdown.wait()
                        output.finish()
                    },
                ]
                defer {
                    cancel()
                    for pump in pumps { pump.cancel() }
                }
                try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                for event in backlog {
                    try await writer.write(ByteBuffer(string: event.frame))
                }
                for await text in outputs {
                    try await writer.write(ByteBuffer(string: text))
                }
                try await writer.finish(nil)
            }
        )
    }
}
