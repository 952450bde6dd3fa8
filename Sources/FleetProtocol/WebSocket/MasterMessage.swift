/// Frames a gateway sends to an agent over its WebSocket (text frames, JSON).
/// See docs/protocol.md.
public enum MasterMessage: Sendable, Equatable {
    /// Answer to `hello`: the session is registered.
    case welcome(Welcome)
    /// Something the agent sent was refused; the connection stays open unless stated.
    case error(ErrorBody)

    public struct Welcome: Codable, Sendable, Equatable {
        public var sessionId: String
        public var gatewayId: String
        public init(sessionId: String, gatewayId: String) {
            self.sessionId = sessionId
            self.gatewayId = gatewayId
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
        }
    }

    public init(from decoder: any Decoder) throws {
        let type = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .type)
        switch type {
        case "welcome": self = .welcome(try Welcome(from: decoder))
        case "error": self = .error(try ErrorBody(from: decoder))
        default: throw ProtocolError.unknownType(type)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(type, forKey: .type)
        switch self {
        case .welcome(let body): try body.encode(to: encoder)
        case .error(let body): try body.encode(to: encoder)
        }
    }
}
