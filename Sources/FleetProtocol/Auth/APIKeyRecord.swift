#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An API key or enrollment token as the registry keeps it: never the secret, only its
/// SHA-256. Replicated to gateways (Clone key space `key.<id>`) so any gateway checks a
/// presented key locally; the secret is shown once, to whoever created it.
public struct APIKeyRecord: Codable, Sendable, Equatable {
    /// Short public id (`k-` + 12 hex), for listing and revoking.
    public var id: String
    /// A name for people and the audit log (`ci-deploy`, `grafana`).
    public var name: String
    public var role: KeyRole
    /// The tenant whose agents the key reaches; nil = every tenant (operator keys only;
    /// an enrollment token always has one).
    public var tenant: String?
    /// SHA-256 (hex) of the secret. The secret has 256 bits of entropy, so a fast hash is
    /// enough: nothing can be guessed from it.
    public var secretSHA256: String
    public var createdAt: Date
    /// Name of the key that created this one.
    public var createdBy: String?
    /// Set once revoked; a revoked key is refused everywhere from then on.
    public var revokedAt: Date?
    /// Enrollment tokens: most agents that may enroll with it (nil = no limit).
    public var maxAgents: Int?

    public init(
        id: String, name: String, role: KeyRole, tenant: String?, secretSHA256: String, createdAt: Date,
        createdBy: String? = nil, revokedAt: Date? = nil, maxAgents: Int? = nil
    ) {
        self.id = id
        self.name = name
        self.role = role
        self.tenant = tenant
        self.secretSHA256 = secretSHA256
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.revokedAt = revokedAt
        self.maxAgents = maxAgents
    }

    /// The key as the API lists it: everything but the digest.
    public var summary: APIKeySummary {
        APIKeySummary(
            id: id, name: name, role: role, tenant: tenant, createdAt: createdAt, createdBy: createdBy,
            revokedAt: revokedAt, maxAgents: maxAgents
        )
    }
}

/// `GET /api/v1/tokens` rows; `POST /api/v1/tokens` answers with one plus the secret.
public struct APIKeySummary: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var role: KeyRole
    public var tenant: String?
    public var createdAt: Date
    public var createdBy: String?
    public var revokedAt: Date?
    public var maxAgents: Int?
    /// Only in the answer to the POST that made the key: it is never shown again.
    public var secret: String?

    public init(
        id: String, name: String, role: KeyRole, tenant: String?, createdAt: Date, createdBy: String?, revokedAt: Date?,
        maxAgents: Int?, secret: String? = nil
    ) {
        self.id = id
        self.name = name
        self.role = role
        self.tenant = tenant
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.revokedAt = revokedAt
        self.maxAgents = maxAgents
        self.secret = secret
    }
}

/// `POST /api/v1/tokens` body.
public struct APIKeyCreateRequest: Codable, Sendable, Equatable {
    public var role: KeyRole
    public var name: String
    public var tenant: String?
    public var maxAgents: Int?
    public init(role: KeyRole, name: String, tenant: String? = nil, maxAgents: Int? = nil) {
        self.role = role
        self.name = name
        self.tenant = tenant
        self.maxAgents = maxAgents
    }
}

/// `GET /api/v1/tokens` answer.
public struct APIKeyListResponse: Codable, Sendable, Equatable {
    public var tokens: [APIKeySummary]
    public init(tokens: [APIKeySummary]) { self.tokens = tokens }
}
