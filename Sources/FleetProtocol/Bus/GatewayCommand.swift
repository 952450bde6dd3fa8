/// Commands the registry PUBlishes to one gateway on topic `gw.<gatewayId>` (every gateway
/// subscribes to its own topic; ZeroMQ's prefix filtering drops the rest at the publisher).
///
/// Wire: `[gw.<gatewayId>][kind][JSON body]`. PUB is lossy, so a command is never the only
/// way its effect comes about: the registry repeats a session close whenever the superseded
/// session shows up again (see the registry's duplicate handling).
public enum GatewayCommand: Sendable, Equatable {
    /// Close one agent session with a WebSocket close code and reason.
    case closeSession(CloseSession)
    /// Send a callback frame to one agent session.
    case callback(Callback)

    public struct Callback: Codable, Sendable, Equatable {
        public var sessionId: String
        public var agentId: String
        public var frame: MasterMessage.Callback
        public init(sessionId: String, agentId: String, frame: MasterMessage.Callback) {
            self.sessionId = sessionId
            self.agentId = agentId
            self.frame = frame
        }
    }

    public struct CloseSession: Codable, Sendable, Equatable {
        public var sessionId: String
        public var agentId: String
        /// WebSocket close code (4001 = superseded by a newer connection with the same agent id).
        public var code: Int
        public var reason: String

        public init(sessionId: String, agentId: String, code: Int, reason: String) {
            self.sessionId = sessionId
            self.agentId = agentId
            self.code = code
            self.reason = reason
        }
    }

    public var kind: String {
        switch self {
        case .closeSession: "session.close"
        case .callback: "callback"
        }
    }

    public func encodedBody() throws -> [UInt8] {
        switch self {
        case .closeSession(let body): try FleetJSON.encode(body)
        case .callback(let body): try FleetJSON.encode(body)
        }
    }

    public init(kind: String, body: [UInt8]) throws {
        do {
            switch kind {
            case "session.close": self = .closeSession(try FleetJSON.decode(CloseSession.self, from: body))
            case "callback": self = .callback(try FleetJSON.decode(Callback.self, from: body))
            default: throw ProtocolError.unknownType(kind)
            }
        } catch let error as DecodingError {
            throw ProtocolError.malformed("\(kind): \(error.fleetDescription)")
        }
    }
}

/// WebSocket close codes the fleet uses beyond RFC 6455's.
public enum FleetCloseCode {
    /// Another connection with the same agent id is newer; this one was closed. Agents wait
    /// long before trying again, so two hosts sharing an id do not flap every second.
    public static let superseded = 4001
    /// No or wrong enrollment token (HTTP 401's meaning). The upgrade itself cannot answer
    /// 401: the WebSocket library turns any refused upgrade into an empty 400 (or a 307),
    /// which tells an agent nothing; so the decision is made before the upgrade, and the
    /// session is opened only to be told why and closed.
    public static let unauthorized = 4401
    /// A valid token of the wrong scope (the admin token), a wrong or revoked agent
    /// credential, or an enrollment the registry refused (HTTP 403's meaning).
    public static let forbidden = 4403
    /// RFC 6455's "try again later": the gateway cannot decide yet (its replica is not in sync).
    public static let tryAgainLater = 1013
    /// RFC 6455's "policy violation": no or invalid hello.
    public static let policyViolation = 1008
}
