import AgentCore
import Testing

@Suite("Agent reply targets")
struct ReplyTargetsTests {
    @Test("the API beside the socket: scheme, port and path prefix kept", arguments: [
        ("ws://10.0.0.5:8080/ws", "http://10.0.0.5:8080/api"),
        ("wss://fleet.example.com/ws", "https://fleet.example.com/api"),
        ("wss://lb.example.com:8443/fleet/ws/", "https://lb.example.com:8443/fleet/api"),
        ("ws://[::1]:9000/ws?x=1", "http://[::1]:9000/api"),
    ])
    func apiBase(socket: String, api: String) {
        #expect(ReplyTargets.apiBase(forWebSocket: socket) == api)
    }

    @Test("not a socket URL: nothing derived")
    func notSocket() {
        #expect(ReplyTargets.apiBase(forWebSocket: "http://a/ws") == nil)
        #expect(ReplyTargets.apiBase(forWebSocket: "ws:///ws") == nil)
    }

    @Test("before any welcome only master.api_url; after, the connected gateway first, then api_url in turn; a failover moves it")
    func order() {
        let targets = ReplyTargets(apiURL: "http://gw-a:8080/api/")
        #expect(targets.candidates == ["http://gw-a:8080/api"])
        targets.welcomed(on: "ws://gw-b:8080/ws")
        #expect(targets.base(forAttempt: 0) == "http://gw-b:8080/api")
        #expect(targets.base(forAttempt: 1) == "http://gw-a:8080/api")
        #expect(targets.base(forAttempt: 2) == "http://gw-b:8080/api")
        targets.welcomed(on: "ws://gw-a:8080/ws")
        #expect(targets.candidates == ["http://gw-a:8080/api"], "the same gateway is tried once per attempt, not twice")
    }
}
