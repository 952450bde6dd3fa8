import Bus
import FleetProtocol
import HTTPTypes

/// Decides, from the upgrade request alone and before the WebSocket exists, whether a
/// connection may become an agent session and how it authenticated:
///
/// - an agent id that has a credential must present that credential (`Authorization:
///   Bearer <secret>`); a wrong one is refused (4403) and counted, a revoked one too;
/// - an agent id without one enrolls: it presents an enrollment token (as the bearer, or in
///   `X-Fleet-Enrollment-Token` beside its old credential when the master forgot it), and
///   the session will bind a new credential to the id;
/// - anything else is 4401 (no or unknown token) or 4403 (a key of another kind).
///
/// The agent names itself in `X-Fleet-Agent-Id`; its hello must then name the same id.
struct AgentAuthenticator: Sendable {
    let keys: KeyRing
    let replica: CloneReplica

    static let agentIdHeader = HTTPField.Name("X-Fleet-Agent-Id")!
    static let enrollmentHeader = HTTPField.Name("X-Fleet-Enrollment-Token")!

    enum Decision: Sendable, Equatable {
        /// Authentication is off.
        case open
        /// The agent's own credential matched.
        case credential(agentId: String, tenant: String)
        /// A first session: the token is an enrollment token of `keyId` for `tenant`. `secret` is
        /// the credential the agent already holds, when it presented one the registry has no
        /// record of: it enrolls with that same secret (see `decide`).
        case enroll(agentId: String, keyId: String, tenant: String, secret: String?)
        /// Refused: close with `code` after an `error` frame with `error` and `message`.
        case refused(code: Int, error: String, message: String)

        var agentId: String? {
            switch self {
            case .credential(let id, _), .enroll(let id, _, _, _): id
            case .open, .refused: nil
            }
        }
    }

    func decide(_ headers: HTTPFields) -> Decision {
        if keys.isDisabled { return .open }
        let bearer: String
        switch KeyRing.bearer(headers) {
        case .success(let token): bearer = token
        case .failure(let error): return .refused(code: FleetCloseCode.unauthorized, error: "unauthorized", message: error.message)
        }
        guard let agentId = headers[Self.agentIdHeader], AgentInfo.isValidID(agentId) else {
            return .refused(
                code: FleetCloseCode.unauthorized, error: "unauthorized",
                message: "the upgrade must name the agent in X-Fleet-Agent-Id (a valid agent id)"
            )
        }
        // Credentials live in the replica: before it is in sync this gateway cannot tell an
        // enrolled agent from a new one, so it asks the agent to come back (1013).
        guard replica.status.synced else {
            return .refused(code: FleetCloseCode.tryAgainLater, error: "unavailable", message: "gateway not ready (fleet state not in sync); try again")
        }
        if let credential = replica.credential(agentId: agentId) {
            guard !credential.isRevoked else {
                return .refused(code: FleetCloseCode.forbidden, error: "revoked", message: "agent \(agentId) was revoked")
            }
            if GatewayTokens.constantTimeEqual(KeyRing.digest(bearer), credential.secretSHA256) {
                return .credential(agentId: agentId, tenant: credential.tenant)
            }
            if headers[Self.enrollmentHeader] == nil, case .principal(let principal) = keys.lookup(bearer), principal.role == .enrollment {
                return .refused(
                    code: FleetCloseCode.forbidden, error: "wrong_credential",
                    message: "agent id \(agentId) is enrolled: present its own credential, not an enrollment token"
                )
            }
            return .refused(code: FleetCloseCode.forbidden, error: "wrong_credential", message: "wrong credential for agent id \(agentId)")
        }
        let token = headers[Self.enrollmentHeader].map(GatewayTokens.trimmed) ?? bearer
        // An agent that holds a credential the registry has no record of yet (its enrollment is
        // still on the way through a busy registry, or the registry lost it) enrolls with that
        // same secret: two enrollments of one agent then bind one digest, and neither locks it
        // out. The enrollment token still decides whether it may enroll at all.
        let held = headers[Self.enrollmentHeader] != nil && Secrets.isAgentCredential(bearer) ? bearer : nil
        switch keys.lookup(token) {
        case .principal(let principal) where principal.role == .enrollment:
            return .enroll(agentId: agentId, keyId: principal.keyId, tenant: principal.tenant ?? Tenant.default, secret: held)
        case .principal:
            return .refused(code: FleetCloseCode.forbidden, error: "forbidden", message: "an API key cannot open an agent session; use an enrollment token")
        case .revoked(let name):
            return .refused(code: FleetCloseCode.unauthorized, error: "unauthorized", message: "enrollment token \(name) was revoked")
        case .unknown:
            return .refused(code: FleetCloseCode.unauthorized, error: "unauthorized", message: "invalid token")
        }
    }
}
