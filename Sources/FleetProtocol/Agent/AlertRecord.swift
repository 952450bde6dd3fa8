#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An alert rule from `alerts.rules` in master.yaml.
public struct AlertRule: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// The agent is not online (disconnected or offline).
        case offline
        /// CPU busy share above `above` percent.
        case cpu
        /// Memory used share above `above` percent.
        case memory
        /// Any real filesystem's used share above `above` percent.
        case disk
    }

    public var name: String
    public var kind: Kind
    /// Threshold in percent (cpu, memory, disk); ignored for offline.
    public var above: Double
    /// Seconds the condition must hold before the alert fires.
    public var `for`: Double

    public init(name: String, kind: Kind, above: Double = 0, for seconds: Double) {
        self.name = name
        self.kind = kind
        self.above = above
        self.for = seconds
    }

    enum CodingKeys: String, CodingKey { case name, kind, above, `for` }

    /// `above` may be left out (offline rules), `for` defaults to 0 (fire at once).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try container.decode(String.self, forKey: .name)
        self.kind = try container.decode(Kind.self, forKey: .kind)
        self.above = try container.decodeIfPresent(Double.self, forKey: .above) ?? 0
        self.for = try container.decodeIfPresent(Double.self, forKey: .for) ?? 0
    }
}

/// A fired (or since resolved) alert: replicated to gateways as `alert.<id>`, listed at
/// `GET /api/v1/alerts`, streamed as `alert.firing` / `alert.resolved` events, sent to webhooks.
public struct AlertRecord: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable { case firing, resolved }

    /// `<rule>:<agentId>`.
    public var id: String
    public var rule: String
    public var kind: AlertRule.Kind
    public var agentId: String
    public var hostname: String
    public var state: State
    public var firedAt: Date
    public var resolvedAt: Date?
    /// The measured value when it fired (percent), for threshold rules.
    public var value: Double?
    public var message: String
    /// The agent's tenant.
    public var tenant: String?

    public init(id: String, rule: String, kind: AlertRule.Kind, agentId: String, hostname: String, state: State, firedAt: Date, value: Double?, message: String) {
        self.id = id
        self.rule = rule
        self.kind = kind
        self.agentId = agentId
        self.hostname = hostname
        self.state = state
        self.firedAt = firedAt
        self.value = value
        self.message = message
    }
}
