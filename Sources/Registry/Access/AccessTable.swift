#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import FleetProtocol

/// Who may connect and who may call: agents' credentials and the API keys and enrollment
/// tokens operators made. A plain value with no I/O, like `AgentTable`: the registry asks it
/// and publishes what it returns (Clone key spaces `cred.` and `key.`).
///
/// The gateways authenticate (they check a presented secret against the replicated digest);
/// the registry decides enrollment, because two gateways may see the same new id at once
/// and only one of them may bind it.
public struct AccessTable: Sendable {
    public struct Settings: Sendable {
        /// Off only for a lab (`auth.enabled: false`): sessions need no credential at all.
        public var enabled: Bool
        /// New agents wait as `pending` until approved (`auth.approval`).
        public var approvalRequired: Bool
        /// Cap on agents enrolled with the bootstrap token `auth.agent_token` (`auth.max_agents`; nil = none).
        public var bootstrapMaxAgents: Int?
        public init(enabled: Bool = true, approvalRequired: Bool = false, bootstrapMaxAgents: Int? = nil) {
            self.enabled = enabled
            self.approvalRequired = approvalRequired
            self.bootstrapMaxAgents = bootstrapMaxAgents
        }
    }

    /// The bootstrap enrollment token's key id (`auth.agent_token`, configured on gateways).
    public static let bootstrapEnrollment = "bootstrap"

    public var settings: Settings
    public private(set) var credentials: [String: AgentCredential]
    public private(set) var keys: [String: APIKeyRecord]
    /// Agents enrolled per token, kept as they enroll: a fleet of 50k enrolling with a capped
    /// token must not count all credentials for each new one.
    private var enrolledCount: [String: Int] = [:]

    public init(settings: Settings, credentials: [AgentCredential] = [], keys: [APIKeyRecord] = []) {
        self.settings = settings
        self.credentials = Dictionary(credentials.map { ($0.agentId, $0) }, uniquingKeysWith: { _, new in new })
        self.keys = Dictionary(keys.map { ($0.id, $0) }, uniquingKeysWith: { _, new in new })
        for credential in self.credentials.values { enrolledCount[credential.enrolledWith, default: 0] += 1 }
    }

    /// The registry's answer to a `session.opened`.
    public enum Admission: Sendable, Equatable {
        /// Authentication is off: the session counts, with no credential.
        case open
        /// The session is the agent's: `credential` is its record, `issued` when this
        /// session enrolled it (the record is new and must be published).
        case admitted(AgentCredential, issued: Bool)
        /// The session must be closed (4403) with `reason`; nothing else changes.
        case refused(String)
    }

    /// Decides whether a session a gateway announces belongs to the agent it names.
    public mutating func admit(_ opened: BusEvent.SessionOpened, now: Date) -> Admission {
        let agentId = opened.agent.id
        switch opened.auth ?? SessionAuth.none {
        case .none:
            return settings.enabled ? .refused("session announced without authentication") : .open
        case .credential:
            guard let credential = credentials[agentId] else {
                return .refused("agent \(agentId) has no credential here; it must enroll")
            }
            guard !credential.isRevoked else { return .refused("agent \(agentId) was revoked") }
            return .admitted(credential, issued: false)
        case .enrollment(let enrollment):
            if let existing = credentials[agentId] {
                // The same enrollment announced again (a gateway re-announcing its sessions to a
                // restarted registry) is the same agent; anything else is a second host claiming
                // an id that is taken.
                guard !existing.isRevoked else { return .refused("agent \(agentId) was revoked") }
                guard existing.secretSHA256 == enrollment.secretSHA256 else {
                    return .refused("agent id \(agentId) is already enrolled; present its credential")
                }
                return .admitted(existing, issued: false)
            }
            let cap: Int?
            if enrollment.keyId == Self.bootstrapEnrollment {
                cap = settings.bootstrapMaxAgents
                guard enrollment.tenant == Tenant.default else { return .refused("the bootstrap enrollment token enrolls into tenant \(Tenant.default)") }
            } else {
                guard let key = keys[enrollment.keyId], key.role == .enrollment else {
                    return .refused("unknown enrollment token \(enrollment.keyId)")
                }
                guard key.revokedAt == nil else { return .refused("enrollment token \(key.name) was revoked") }
                guard key.tenant == enrollment.tenant else { return .refused("enrollment token \(key.name) belongs to another tenant") }
                cap = key.maxAgents
            }
            if let cap, enrolled(with: enrollment.keyId) >= cap {
                return .refused("enrollment token \(enrollment.keyId) has enrolled its limit of \(cap) agents")
            }
            var credential = AgentCredential(
                agentId: agentId, secretSHA256: enrollment.secretSHA256, tenant: enrollment.tenant, enrolledAt: now,
                enrolledWith: enrollment.keyId, approved: !settings.approvalRequired
            )
            if credential.approved { credential.approvedBy = "auto" }
            credentials[agentId] = credential
            enrolledCount[enrollment.keyId, default: 0] += 1
            return .admitted(credential, issued: true)
        }
    }

    /// Agents enrolled with one token (revoked ones count: the cap is on hosts let in).
    public func enrolled(with keyId: String) -> Int {
        enrolledCount[keyId] ?? 0
    }

    /// Approves a pending agent; nil when there is nothing to change.
    public mutating func approve(_ agentId: String, by: String) -> AgentCredential? {
        guard var credential = credentials[agentId], !credential.approved, !credential.isRevoked else { return nil }
        credential.approved = true
        credential.approvedBy = by
        credentials[agentId] = credential
        return credential
    }

    /// Revokes an agent's credential for good; nil when unknown or already revoked.
    public mutating func revoke(_ agentId: String, by: String, now: Date) -> AgentCredential? {
        guard var credential = credentials[agentId], !credential.isRevoked else { return nil }
        credential.revokedAt = now
        credential.revokedBy = by
        credentials[agentId] = credential
        return credential
    }

    /// Records a new key; nil for an id already taken or a record that makes no sense.
    public mutating func create(_ key: APIKeyRecord) -> APIKeyRecord? {
        guard keys[key.id] == nil, key.id != Self.bootstrapEnrollment, key.revokedAt == nil else { return nil }
        if key.role == .enrollment && key.tenant == nil { return nil }
        if let tenant = key.tenant, !Tenant.isValid(tenant) { return nil }
        keys[key.id] = key
        return key
    }

    public mutating func revokeKey(_ keyId: String, now: Date) -> APIKeyRecord? {
        guard var key = keys[keyId], key.revokedAt == nil else { return nil }
        key.revokedAt = now
        keys[keyId] = key
        return key
    }
}
