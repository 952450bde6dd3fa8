import FleetProtocol
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Decides an agent's WebSocket upgrade from the request head alone, and installs the
/// handlers that serve it (``AgentSocketHandler``).
///
/// Every upgrade on the agents' path is accepted, refused ones included: the WebSocket can
/// carry the reason (an `error` frame, a 44xx close) where an answer to the upgrade could
/// only be a bare status an agent does not read.
struct AgentSocketAcceptor: Sendable {
    let path: String
    let authenticator: AgentAuthenticator
    let services: AgentSessionServices

    /// The authentication decision for an upgrade on the agents' path; nil for another path
    /// (the upgrade is then refused with 400, as the router would not route it).
    func decide(_ head: HTTPRequestHead) -> AgentAuthenticator.Decision? {
        let requested = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? head.uri
        guard requested == path else { return nil }
        return authenticator.decide(Self.fields(head.headers))
    }

    /// After the upgrade: fragments joined up to the frame limit, then the agent's handler.
    func install(on channel: any Channel, decision: AgentAuthenticator.Decision) throws {
        let role: AgentSocketHandler.Role
        if case .refused(let code, let error, let message) = decision {
            role = .refusal(code: code, error: error, message: message)
        } else if services.heartbeats.isBacklogged {
            // The registry is behind (heartbeats are waiting for room on the bus): a new session
            // would add an announcement and a snapshot to what waits. 1013: agents back off.
            role = .refusal(
                code: FleetCloseCode.tryAgainLater, error: "overloaded", message: "the master is behind on heartbeats; try again later"
            )
        } else {
            role = .session(AgentSession(services: services, auth: decision))
        }
        let limit = services.settings.maxFrameBytes
        try channel.pipeline.syncOperations.addHandler(
            NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1024, maxAccumulatedFrameSize: limit)
        )
        try channel.pipeline.syncOperations.addHandler(AgentSocketHandler(role: role, services: services, eventLoop: channel.eventLoop))
    }

    /// NIO's header list as Swift HTTP Types' fields (what the authenticator reads).
    static func fields(_ headers: HTTPHeaders) -> HTTPFields {
        var fields = HTTPFields()
        for (name, value) in headers {
            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
        }
        return fields
    }
}
