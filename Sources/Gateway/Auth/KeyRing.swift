import Bus
import Crypto
import FleetProtocol
import HTTPTypes

/// Finds the key a bearer token belongs to: the bootstrap tokens from the configuration
/// (`auth.admin_token`, `auth.agent_token`, shared by every gateway), or a key made with
/// `master tokens create`, replicated from the registry as a digest.
struct KeyRing: Sendable {
    let bootstrap: GatewayTokens
    let replica: CloneReplica

    enum Lookup: Equatable {
        case principal(Principal)
        /// A key that exists but was revoked (told apart so the refusal can say so).
        case revoked(name: String)
        case unknown
    }

    var isDisabled: Bool { bootstrap.isDisabled }

    static let bootstrapAdmin = "bootstrap-admin"

    func lookup(_ presented: String) -> Lookup {
        if bootstrap.admin.contains(where: { GatewayTokens.constantTimeEqual($0, presented) }) {
            return .principal(Principal(keyId: Self.bootstrapAdmin, name: "admin token (auth.admin_token)", role: .admin, tenant: nil))
        }
        if bootstrap.agent.contains(where: { GatewayTokens.constantTimeEqual($0, presented) }) {
            return .principal(Principal(
                keyId: "bootstrap", name: "enrollment token (auth.agent_token)", role: .enrollment, tenant: Tenant.default
            ))
        }
        // A dictionary lookup by digest: what it reveals by its timing is whether some key has
        // that digest, which for a 256-bit secret tells an attacker nothing.
        guard let key = replica.key(digest: Self.digest(presented)) else { return .unknown }
        if key.revokedAt != nil { return .revoked(name: key.name) }
        return .principal(Principal(keyId: key.id, name: key.name, role: key.role, tenant: key.tenant))
    }

    /// The bearer token of `Authorization: Bearer <token>`, or why there is none.
    static func bearer(_ headers: HTTPFields) -> Result<String, APIError> {
        guard let header = headers[.authorization] else {
            return .failure(APIError(status: .unauthorized, code: "unauthorized", message: "missing Authorization: Bearer token"))
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            return .failure(APIError(status: .unauthorized, code: "unauthorized", message: "Authorization must be 'Bearer <token>'"))
        }
        return .success(GatewayTokens.trimmed(String(parts[1])))
    }

    /// The principal of an admin API call, or the 401/403 to answer.
    func authenticate(_ headers: HTTPFields) -> Result<Principal, APIError> {
        if isDisabled { return .success(.anonymous) }
        let token: String
        switch Self.bearer(headers) {
        case .success(let presented): token = presented
        case .failure(let error): return .failure(error)
        }
        switch lookup(token) {
        case .unknown:
            return .failure(APIError(status: .unauthorized, code: "unauthorized", message: "invalid token"))
        case .revoked(let name):
            return .failure(APIError(status: .unauthorized, code: "unauthorized", message: "key \(name) was revoked"))
        case .principal(let principal) where principal.role == .enrollment:
            return .failure(APIError(status: .forbidden, code: "forbidden", message: "an enrollment token cannot use the admin API"))
        case .principal(let principal):
            return .success(principal)
        }
    }

    static func digest(_ secret: String) -> String {
        Hex.encode(SHA256.hash(data: Array(secret.utf8)))
    }
}
