/// Frames a gateway sends to an agent over its WebSocket (text frames, JSON).
/// See docs/protocol.md.
public enum MasterMessage: Sendable, Equatable {
    /// Answer to `hello`: the session is registered.
    case welcome(Welcome)
    /// Something the agent sent was refused; the connection stays open unless stated.
    case error(ErrorBody)
    /// Do something and POST the result to `replyURL` with `Authorization: Bearer <replyToken>`.
    case callback(Callback)

    public struct Callback: Codable, Sendable, Equatable {
        public var requestId: String
        public var kind: CallbackKind
        public var args: JSONValue
        /// Path of the reply, relative to the agent's `master.api_url`: `/v1/callbacks/<requestId>`.
        public var replyPath: String
        /// Single-use token bound to (requestId, agentId).
        public var replyToken: String

        public init(requestId: String, kind: CallbackKind, args: JSONValue, replyPath: String, replyToken: String) {
            self.requestId = requestId
            self.kind = kind
            self.args = args
            self.replyPath = replyPath
            self.replyToken = replyToken
        }
    }

    public struct Welcome: Codable, Sendable, Equatable {
        public var sessionId: String
        public var gatewayId: String
        /// Only on the session that enrolled the agent: its own secret, to keep (0600) and
        /// present on every later session instead of the enrollment token. Never sent again.
        public var credential: String?
        /// True while the agent waits for approval (approval mode): it may send metrics but
        /// gets no requests.
        public var pendingApproval: Bool?
        public init(sessionId: String, gatewayId: String, credential: String? = nil, pendingApproval: Bool? = nil) {
            self.sessionId = sessionId
            self.gatewayId = gatewayId
            self.credential = credential
            self.pendingApproval = pendingApproval
        }
    }

    public struct ErrorBody: Codable, Sendable, Equatable {
        public var code: String
        public var message: String
        public init(code: String, message: String) {
            self.code = code
            self.message = message
        }
    }
}

extension MasterMessage: Codable {
    private enum CodingKeys: String, CodingKey { case type }

    public var type: String {
        switch self {
        case .welcome: "welcome"
        case .error: "error"
        case .callback: "callback"
        }
    }

    public init(from decoder: any Decoder) throws {
        let type = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .type)
        switch type {
        case "welcome": self = .welcome(try Welcome(from: decoder))
        case "error": self = .error(try ErrorBody(from: decoder))
        case "callback": self = .callback(try Callback(from: decoder))
        default: throw ProtocolError.unknownType(type)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(type, forKey: .type)
        switch self {
        case .welcome(let body): try body.encode(to: encoder)
        case .error(let body): try body.encode(to: encoder)
        case .callback(let body): try body.encode(to: encoder)
        }
    }
}
