/// A job on the `jobs_in` -> `jobs_out` streamer: an agent's reply, accepted and
/// authenticated by a gateway, for a callback-worker to validate, parse and store.
///
/// Wire: `[callback.reply][header JSON][body]`; the body is the agent's bytes as received.
public struct CallbackJobHeader: Codable, Sendable, Equatable {
    public static let kind = "callback.reply"

    public var requestId: String
    public var agentId: String
    public var kind: CallbackKind
    /// The gateway that accepted the reply (for logs).
    public var gatewayId: String
    public var contentType: String?

    public init(requestId: String, agentId: String, kind: CallbackKind, gatewayId: String, contentType: String?) {
        self.requestId = requestId
        self.agentId = agentId
        self.kind = kind
        self.gatewayId = gatewayId
        self.contentType = contentType
    }
}
