/// Frames an agent sends to a gateway over its WebSocket (text frames, JSON).
/// See docs/protocol.md.
public enum AgentMessage: Sendable, Equatable {
    /// First frame on every connection: who the agent is.
    case hello(Hello)
    /// Periodic liveness with a metrics snapshot.
    case heartbeat(Heartbeat)
    /// Samples taken while disconnected, replayed after reconnecting (oldest first).
    case samples(Samples)

    public struct Samples: Codable, Sendable, Equatable {
        public var metrics: [MetricsSnapshot]
        public init(metrics: [MetricsSnapshot]) {
            self.metrics = metrics
        }
    }

    public struct Hello: Codable, Sendable, Equatable {
        public var agent: AgentInfo
        public var protocolVersion: Int
        /// A first snapshot, so the fleet view has metrics from the first second.
        public var metrics: MetricsSnapshot?

        public init(agent: AgentInfo, protocolVersion: Int = FleetProtocolVersion.current, metrics: MetricsSnapshot? = nil) {
            self.agent = agent
            self.protocolVersion = protocolVersion
            self.metrics = metrics
        }
    }

    public struct Heartbeat: Codable, Sendable, Equatable {
        public var metrics: MetricsSnapshot

        public init(metrics: MetricsSnapshot) {
            self.metrics = metrics
        }
    }
}

extension AgentMessage: Codable {
    private enum CodingKeys: String, CodingKey { case type }

    public var type: String {
        switch self {
        case .hello: "hello"
        case .heartbeat: "heartbeat"
        case .samples: "samples"
        }
    }

    public init(from decoder: any Decoder) throws {
        let type = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .type)
        switch type {
        case "hello": self = .hello(try Hello(from: decoder))
        case "heartbeat": self = .heartbeat(try Heartbeat(from: decoder))
        case "samples": self = .samples(try Samples(from: decoder))
        default: throw ProtocolError.unknownType(type)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(type, forKey: .type)
        switch self {
        case .hello(let body): try body.encode(to: encoder)
        case .heartbeat(let body): try body.encode(to: encoder)
        case .samples(let body): try body.encode(to: encoder)
        }
    }
}

/// Version of the agent <-> gateway protocol this build speaks.
public enum FleetProtocolVersion {
    public static let current = 1
}
