#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Events PUSHed to the registry by gateways and callback-workers (bus socket `events`).
///
/// On the wire: a two-frame ZeroMQ message `[kind][JSON body]` (see docs/protocol.md).
/// Events are facts observed by the sender; the registry alone decides what they mean for
/// fleet state and times them with its own clock, so hosts' clock skew cannot fake liveness.
public enum BusEvent: Sendable, Equatable {
    /// An agent said hello on a gateway: a new live session.
    case sessionOpened(SessionOpened)
    /// A heartbeat arrived on a live session.
    case heartbeat(SessionHeartbeat)
    /// A session's socket closed.
    case sessionClosed(SessionClosed)
    /// A gateway is alive (every second or so).
    case gatewayHeartbeat(GatewayHeartbeat)
    /// A callback-worker is alive.
    case workerHeartbeat(WorkerHeartbeat)
    /// An operator asked for a callback (gateway; the gateway chose the request id).
    case requestCreated(RequestCreated)
    /// A worker processed an agent's reply (or found it unusable).
    case requestResult(RequestResult)
    /// An operator asked to forget an agent that is not connected (gateway).
    case agentDelete(AgentDelete)
    /// Samples an agent took while disconnected, replayed on its live session (history only).
    case samples(SessionSamples)
    /// An operator approved an agent waiting in approval mode (gateway).
    case agentApprove(AgentAction)
    /// An operator revoked an agent's credential: cut it off now and for good (gateway).
    case agentRevoke(AgentAction)
    /// An operator created an API key or enrollment token (gateway; the gateway made the
    /// secret and sends only its digest).
    case keyCreated(APIKeyRecord)
    /// An operator revoked an API key or enrollment token (gateway).
    case keyRevoked(KeyRevoke)
    /// One audit log line (gateway, after each mutating admin call).
    case audit(AuditEntry)

    /// An operator's action on one agent, with the key that asked for it.
    public struct AgentAction: Codable, Sendable, Equatable {
        public var agentId: String
        /// Name of the key that asked (for the record's reason and the logs).
        public var by: String
        public init(agentId: String, by: String) {
            self.agentId = agentId
            self.by = by
        }
    }

    public struct KeyRevoke: Codable, Sendable, Equatable {
        public var keyId: String
        public var by: String
        public init(keyId: String, by: String) {
            self.keyId = keyId
            self.by = by
        }
    }

    public struct SessionSamples: Codable, Sendable, Equatable {
        public var gatewayId: String
        public var sessionId: String
        public var agentId: String
        public var metrics: [MetricsSnapshot]
        public init(gatewayId: String, sessionId: String, agentId: String, metrics: [MetricsSnapshot]) {
            self.gatewayId = gatewayId
            self.sessionId = sessionId
            self.agentId = agentId
            self.metrics = metrics
        }
    }

    public struct AgentDelete: Codable, Sendable, Equatable {
        public var agentId: String
        public init(agentId: String) { self.agentId = agentId }
    }

    public struct RequestCreated: Codable, Sendable, Equatable {
        public var requestId: String
        public var agentId: String
        public var kind: CallbackKind
        public var args: JSONValue
        /// The gateway's deadline: it answers 503 if the request is not in its replica by then,
        /// so a request reaching the registry later (queued on the bus while the registry was
        /// down) is recorded failed, never run; the client may have retried it.
        public var acceptBy: Date?
        public init(requestId: String, agentId: String, kind: CallbackKind, args: JSONValue, acceptBy: Date? = nil) {
            self.requestId = requestId
            self.agentId = agentId
            self.kind = kind
            self.args = args
            self.acceptBy = acceptBy
        }
    }

    public struct RequestResult: Codable, Sendable, Equatable {
        public var requestId: String
        public var agentId: String
        /// False when the agent reported failure or the reply could not be used.
        public var ok: Bool
        public var result: JSONValue?
        public var error: String?
        public init(requestId: String, agentId: String, ok: Bool, result: JSONValue?, error: String?) {
            self.requestId = requestId
            self.agentId = agentId
            self.ok = ok
            self.result = result
            self.error = error
        }
    }

    public struct SessionOpened: Codable, Sendable, Equatable {
        public var gatewayId: String
        public var sessionId: String
        public var agent: AgentInfo
        public var metrics: MetricsSnapshot?
        /// How the gateway authenticated the agent; nil only from before credentials (read as
        /// `.none`, which a registry with authentication on refuses).
        public var auth: SessionAuth?
        public init(gatewayId: String, sessionId: String, agent: AgentInfo, metrics: MetricsSnapshot?, auth: SessionAuth? = nil) {
            self.gatewayId = gatewayId
            self.sessionId = sessionId
            self.agent = agent
            self.metrics = metrics
            self.auth = auth
        }
    }

    public struct SessionHeartbeat: Codable, Sendable, Equatable {
        public var gatewayId: String
        public var sessionId: String
        public var agentId: String
        public var metrics: MetricsSnapshot
        public init(gatewayId: String, sessionId: String, agentId: String, metrics: MetricsSnapshot) {
            self.gatewayId = gatewayId
            self.sessionId = sessionId
            self.agentId = agentId
            self.metrics = metrics
        }
    }

    public struct SessionClosed: Codable, Sendable, Equatable {
        public var gatewayId: String
        public var sessionId: String
        public var agentId: String
        public var reason: String
        public init(gatewayId: String, sessionId: String, agentId: String, reason: String) {
            self.gatewayId = gatewayId
            self.sessionId = sessionId
            self.agentId = agentId
            self.reason = reason
        }
    }

    public struct GatewayHeartbeat: Codable, Sendable, Equatable {
        public var gatewayId: String
        /// Live agent sessions on this gateway.
        public var sessions: Int
        /// Where operators and agents reach this gateway over HTTP, for the admin view.
        public var httpURL: String?
        public init(gatewayId: String, sessions: Int, httpURL: String?) {
            self.gatewayId = gatewayId
            self.sessions = sessions
            self.httpURL = httpURL
        }
    }

    public struct WorkerHeartbeat: Codable, Sendable, Equatable {
        public var workerId: String
        public var jobsDone: UInt64
        public init(workerId: String, jobsDone: UInt64) {
            self.workerId = workerId
            self.jobsDone = jobsDone
        }
    }

    /// The first frame on the wire.
    public var kind: String {
        switch self {
        case .sessionOpened: "session.opened"
        case .heartbeat: "session.heartbeat"
        case .sessionClosed: "session.closed"
        case .gatewayHeartbeat: "gateway.heartbeat"
        case .workerHeartbeat: "worker.heartbeat"
        case .requestCreated: "request.created"
        case .requestResult: "request.result"
        case .agentDelete: "agent.delete"
        case .samples: "session.samples"
        case .agentApprove: "agent.approve"
        case .agentRevoke: "agent.revoke"
        case .keyCreated: "key.created"
        case .keyRevoked: "key.revoked"
        case .audit: "audit.record"
        }
    }

    /// The JSON body (second frame).
    public func encodedBody() throws -> [UInt8] {
        switch self {
        case .sessionOpened(let body): try FleetJSON.encode(body)
        case .heartbeat(let body): try FleetJSON.encode(body)
        case .sessionClosed(let body): try FleetJSON.encode(body)
        case .gatewayHeartbeat(let body): try FleetJSON.encode(body)
        case .workerHeartbeat(let body): try FleetJSON.encode(body)
        case .requestCreated(let body): try FleetJSON.encode(body)
        case .requestResult(let body): try FleetJSON.encode(body)
        case .agentDelete(let body): try FleetJSON.encode(body)
        case .samples(let body): try FleetJSON.encode(body)
        case .agentApprove(let body): try FleetJSON.encode(body)
        case .agentRevoke(let body): try FleetJSON.encode(body)
        case .keyCreated(let body): try FleetJSON.encode(body)
        case .keyRevoked(let body): try FleetJSON.encode(body)
        case .audit(let body): try FleetJSON.encode(body)
        }
    }

    /// Decodes an event from its kind and body; unknown kinds and bad JSON are `ProtocolError`s.
    public init(kind: String, body: [UInt8]) throws {
        do {
            switch kind {
            case "session.opened": self = .sessionOpened(try FleetJSON.decode(SessionOpened.self, from: body))
            case "session.heartbeat": self = .heartbeat(try FleetJSON.decode(SessionHeartbeat.self, from: body))
            case "session.closed": self = .sessionClosed(try FleetJSON.decode(SessionClosed.self, from: body))
            case "gateway.heartbeat": self = .gatewayHeartbeat(try FleetJSON.decode(GatewayHeartbeat.self, from: body))
            case "worker.heartbeat": self = .workerHeartbeat(try FleetJSON.decode(WorkerHeartbeat.self, from: body))
            case "request.created": self = .requestCreated(try FleetJSON.decode(RequestCreated.self, from: body))
            case "request.result": self = .requestResult(try FleetJSON.decode(RequestResult.self, from: body))
            case "agent.delete": self = .agentDelete(try FleetJSON.decode(AgentDelete.self, from: body))
            case "session.samples": self = .samples(try FleetJSON.decode(SessionSamples.self, from: body))
            case "agent.approve": self = .agentApprove(try FleetJSON.decode(AgentAction.self, from: body))
            case "agent.revoke": self = .agentRevoke(try FleetJSON.decode(AgentAction.self, from: body))
            case "key.created": self = .keyCreated(try FleetJSON.decode(APIKeyRecord.self, from: body))
            case "key.revoked": self = .keyRevoked(try FleetJSON.decode(KeyRevoke.self, from: body))
            case "audit.record": self = .audit(try FleetJSON.decode(AuditEntry.self, from: body))
            default: throw ProtocolError.unknownType(kind)
            }
        } catch let error as DecodingError {
            throw ProtocolError.malformed("\(kind): \(error.fleetDescription)")
        }
    }
}
