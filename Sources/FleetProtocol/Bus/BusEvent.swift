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

    /// A heartbeat: the ids, and the agent's snapshot as its own bytes (never a JSON body:
    /// see ``BusEvent/frames()``).
    public struct SessionHeartbeat: Sendable, Equatable {
        public var gatewayId: String
        public var sessionId: String
        public var agentId: String
        public var metrics: RawSnapshot
        /// Read out by the gateway, so the registry's alert rules need not decode the snapshot.
        public var vitals: MetricsVitals
        public init(gatewayId: String, sessionId: String, agentId: String, metrics: RawSnapshot, vitals: MetricsVitals? = nil) {
            self.gatewayId = gatewayId
            self.sessionId = sessionId
            self.agentId = agentId
            self.metrics = metrics
            self.vitals = vitals ?? metrics.vitals
        }

        /// `[session.heartbeat][gateway][session][agent][meta][snapshot]`; meta is 40 bytes:
        /// the snapshot's seq (u64), its time in ms (i64), then cpu, memory and disk vitals
        /// (f64, NaN for none), little-endian.
        func frames() -> [[UInt8]] {
            var meta = BinaryWriter(capacity: 40)
            writeMeta(into: &meta)
            return [
                Array(BusEvent.heartbeatKind.utf8), Array(gatewayId.utf8), Array(sessionId.utf8), Array(agentId.utf8), meta.bytes,
                metrics.bytes,
            ]
        }

        init(frames: [[UInt8]]) throws(ProtocolError) {
            guard frames.count == 6 else { throw .malformed("session.heartbeat with \(frames.count) frames, expected 6") }
            var meta = BinaryReader(frames[4])
            let (seq, time, vitals) = try Self.readMeta(&meta)
            guard meta.atEnd else { throw .malformed("session.heartbeat meta frame of \(frames[4].count) bytes, expected 40") }
            self.init(
                gatewayId: String(decoding: frames[1], as: UTF8.self), sessionId: String(decoding: frames[2], as: UTF8.self),
                agentId: String(decoding: frames[3], as: UTF8.self),
                metrics: RawSnapshot(trusted: frames[5], timestamp: time, seq: seq), vitals: vitals
            )
        }

        /// The 40 bytes of meta: seq, time in ms, the three vitals.
        func writeMeta(into meta: inout BinaryWriter) {
            meta.u64(metrics.seq)
            meta.i64(Int64((metrics.timestamp.timeIntervalSince1970 * 1000).rounded()))
            meta.optionalDouble(vitals.cpuPercent)
            meta.optionalDouble(vitals.memoryUsedPercent)
            meta.optionalDouble(vitals.diskUsedPercent)
        }

        static func readMeta(_ meta: inout BinaryReader) throws(ProtocolError) -> (seq: UInt64, time: Date, vitals: MetricsVitals) {
            let seq = try meta.u64()
            let milliseconds = try meta.i64()
            let vitals = MetricsVitals(cpuPercent: try meta.optionalDouble(), memoryUsedPercent: try meta.optionalDouble(), diskUsedPercent: try meta.optionalDouble())
            return (seq, Date(timeIntervalSince1970: Double(milliseconds) / 1000), vitals)
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
        case .heartbeat: Self.heartbeatKind
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

    static let heartbeatKind = "session.heartbeat"

    /// The message on the wire: `[kind][JSON body]`, except a heartbeat, whose snapshot travels
    /// as the agent's bytes next to binary ids (``SessionHeartbeat/frames()``).
    public func frames() throws -> [[UInt8]] {
        if case .heartbeat(let beat) = self { return beat.frames() }
        return [Array(kind.utf8), try encodedBody()]
    }

    /// Decodes a message received on the `events` socket.
    public init(frames: [[UInt8]]) throws {
        guard let first = frames.first else { throw ProtocolError.malformed("empty bus event") }
        let kind = String(decoding: first, as: UTF8.self)
        if kind == Self.heartbeatKind {
            self = .heartbeat(try SessionHeartbeat(frames: frames))
            return
        }
        guard frames.count == 2 else {
            throw ProtocolError.malformed("bus event with \(frames.count) frames, expected [kind][body]")
        }
        try self.init(kind: kind, body: frames[1])
    }

    /// The JSON body (second frame) of every kind but the heartbeat.
    public func encodedBody() throws -> [UInt8] {
        switch self {
        case .sessionOpened(let body): try FleetJSON.encode(body)
        case .heartbeat: throw ProtocolError.unexpected("a heartbeat has no JSON body: use frames()")
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
