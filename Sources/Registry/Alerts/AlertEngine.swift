#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import FleetProtocol

/// Evaluates the alert rules against the agent table: a condition must hold for the rule's
/// `for` seconds before its alert fires, and the alert resolves as soon as it no longer
/// holds (or the agent is deleted). One alert per (rule, agent). A plain value, no I/O.
public struct AlertEngine: Sendable {
    public let rules: [AlertRule]
    /// When each (rule, agent) condition started holding.
    private var pendingSince: [String: Date] = [:]
    public private(set) var active: [String: AlertRecord] = [:]

    /// - Parameter active: alerts still firing from an earlier run (from the store), so a
    ///   restart neither fires them again nor forgets to resolve them.
    public init(rules: [AlertRule], active: [AlertRecord] = []) {
        self.rules = rules
        for alert in active where alert.state == .firing && rules.contains(where: { $0.name == alert.rule }) {
            self.active[alert.id] = alert
            self.pendingSince[alert.id] = alert.firedAt
        }
    }

    /// Returns the alerts that fired or resolved at `now`.
    /// `vitals` gives each agent's latest values (from its snapshot's bytes; see ``MetricsVitals``).
    public mutating func evaluate(_ agents: [AgentRecord], vitals: (String) -> MetricsVitals?, now: Date) -> [AlertRecord] {
        guard !rules.isEmpty else { return [] }
        var changes: [AlertRecord] = []
        var seen = Set<String>()
        for agent in agents {
            for rule in rules {
                let key = "\(rule.name):\(agent.id)"
                seen.insert(key)
                if let value = Self.breach(rule, agent, vitals(agent.id)) {
                    let since = pendingSince[key] ?? now
                    pendingSince[key] = since
                    guard active[key] == nil, now.timeIntervalSince(since) >= rule.for else { continue }
                    let alert = AlertRecord(
                        id: key, rule: rule.name, kind: rule.kind, agentId: agent.id, hostname: agent.hostname, state: .firing,
                        firedAt: now, value: rule.kind == .offline ? nil : value, message: Self.message(rule, agent, value)
                    )
                    active[key] = alert
                    changes.append(alert)
                } else {
                    pendingSince.removeValue(forKey: key)
                    if var alert = active.removeValue(forKey: key) {
                        alert.state = .resolved
                        alert.resolvedAt = now
                        changes.append(alert)
                    }
                }
            }
        }
        // Agents that are gone: their alerts resolve.
        for key in Array(active.keys) where !seen.contains(key) {
            if var alert = active.removeValue(forKey: key) {
                alert.state = .resolved
                alert.resolvedAt = now
                changes.append(alert)
            }
            pendingSince.removeValue(forKey: key)
        }
        return changes
    }

    /// The measured value if the rule's condition holds for `agent`, else nil.
    static func breach(_ rule: AlertRule, _ agent: AgentRecord, _ vitals: MetricsVitals?) -> Double? {
        switch rule.kind {
        case .offline:
            // Pending and revoked agents are not "down": their state is an operator's decision.
            return agent.state == .online || !agent.state.followsConnection ? nil : 1
        case .cpu:
            guard agent.state == .online, let value = vitals?.cpuPercent, value > rule.above else { return nil }
            return value
        case .memory:
            guard agent.state == .online, let value = vitals?.memoryUsedPercent, value > rule.above else { return nil }
            return value
        case .disk:
            guard agent.state == .online, let value = vitals?.diskUsedPercent, value > rule.above else { return nil }
            return value
        }
    }

    static func message(_ rule: AlertRule, _ agent: AgentRecord, _ value: Double) -> String {
        switch rule.kind {
        case .offline: "\(agent.hostname) (\(agent.id)) is \(agent.state.rawValue) for more than \(Int(rule.for)) s"
        default: "\(agent.hostname) (\(agent.id)): \(rule.kind.rawValue) at \(Int(value))% > \(Int(rule.above))% for \(Int(rule.for)) s"
        }
    }
}
