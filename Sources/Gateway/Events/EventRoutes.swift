import FleetSupport
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /api/v1/events`: server-sent events with an `id:` per event; a client resumes with
/// `Last-Event-ID` (header, or `?lastEventId=` for EventSource-less clients) and misses
/// nothing that is still in the gateway's ring. The admin token comes in the Authorization
/// header only: a token in a URL ends up in access logs and browser history. Browsers read the
/// stream with `fetch()` (the dashboard does), which can send the header; EventSource cannot.
struct EventRoutes {
    let feed: EventFeed
    let shutdown: ShutdownSignal
    static let keepAlive: Duration = .seconds(15)

    func register(on api: RouterGroup<GatewayRequestContext>) {
        api.get("events") { request, context in try self.stream(request, caller: context.caller()) }
    }

    /// Each client sees its key's tenant only, and requests as its role may see them.
    func stream(_ request: Request, caller: Principal) throws -> Response {
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
                        for await event in live where event.visible(to: caller) { output.yield(event.frame(for: caller)) }
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
                for event in backlog where event.visible(to: caller) {
                    try await writer.write(ByteBuffer(string: event.frame(for: caller)))
                }
                for await text in outputs {
                    try await writer.write(ByteBuffer(string: text))
                }
                try await writer.finish(nil)
            }
        )
    }
}
