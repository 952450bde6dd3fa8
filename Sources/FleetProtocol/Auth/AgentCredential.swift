#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One agent's own credential, bound to its id: issued at its first session (the one it
/// opened with an enrollment token) and required for every session after that. The registry
/// keeps only the SHA-256 of the secret; gateways get the record through Clone (key space
/// `cred.<agentId>`) and check a presented secret locally.
///
/// Why per-agent: with one shared token any host that has it can claim any agent's id,
/// receive that agent's commands and keep a dead host looking alive. Bound credentials
/// make an id unforgeable and let one host be cut off without touching the others.
public struct AgentCredential: Codable, Sendable, Equatable {
    public var agentId: String
    /// SHA-256 (hex) of the agent's secret.
    public var secretSHA256: String
    /// The tenant of the enrollment token it enrolled with; fixed for the agent's life.
    public var tenant: String
    public var enrolledAt: Date
    /// Id of the enrollment token used (`bootstrap` for `auth.agent_token`).
    public var enrolledWith: String
    /// False while the agent waits for `master agents approve` (approval mode).
    public var approved: Bool
    public var approvedBy: String?
    /// Set by `master agents revoke`: the credential is refused from then on, and the id
    /// cannot enroll again.
    public var revokedAt: Date?
    public var revokedBy: String?

    public init(
        agentId: String, secretSHA256: String, tenant: String, enrolledAt: Date, enrolledWith: String, approved: Bool
    ) {
        self.agentId = agentId
        self.secretSHA256 = secretSHA256
        self.tenant = tenant
        self.enrolledAt = enrolledAt
        self.enrolledWith = enrolledWith
        self.approved = approved
    }

    public var isRevoked: Bool { revokedAt != nil }
}

/// How a gateway authenticated the session it announces (`session.opened`).
public enum SessionAuth: Codable, Sendable, Equatable {
    /// Authentication is off (`auth.enabled: false`).
    case none
    /// The agent presented its own credential, which matched the replicated record.
    case credential
    /// A first session opened with an enrollment token: the gateway made a secret for the
    /// agent and asks the registry to bind its digest to the id.
    case enrollment(Enrollment)

    public struct Enrollment: Codable, Sendable, Equatable {
        /// The enrollment token's key id (`bootstrap` for `auth.agent_token`).
        public var keyId: String
        public var tenant: String
        public var secretSHA256: String
        public init(keyId: String, tenant: String, secretSHA256: String) {
            self.keyId = keyId
            self.tenant = tenant
            self.secretSHA256 = secretSHA256
        }
    }

    private enum CodingKeys: String, CodingKey { case method, enrollment }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(String.self, forKey: .method) {
        case "none": self = .none
        case "credential": self = .credential
        case "enrollment": self = .enrollment(try container.decode(Enrollment.self, forKey: .enrollment))
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .method, in: container, debugDescription: "unknown session auth '\(other)'")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .none: try container.encode("none", forKey: .method)
        case .credential: try container.encode("credential", forKey: .method)
        case .enrollment(let enrollment):
            try container.encode("enrollment", forKey: .method)
            try container.encode(enrollment, forKey: .enrollment)
        }
    }
}
