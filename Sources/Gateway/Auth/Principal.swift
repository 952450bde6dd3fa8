import FleetProtocol

/// Who is calling: the key that authenticated a request, with what it may do and see.
public struct Principal: Sendable, Equatable {
    /// The key's id (`bootstrap-admin` for `auth.admin_token`, `bootstrap` for `auth.agent_token`).
    public var keyId: String
    /// The key's name, for the audit log.
    public var name: String
    public var role: KeyRole
    /// The tenant the key reaches; nil = every tenant.
    public var tenant: String?

    public init(keyId: String, name: String, role: KeyRole, tenant: String?) {
        self.keyId = keyId
        self.name = name
        self.role = role
        self.tenant = tenant
    }

    /// With authentication off (`auth.enabled: false`) every caller is this.
    static let anonymous = Principal(keyId: "anonymous", name: "anonymous (auth disabled)", role: .admin, tenant: nil)

    /// Whether things of `tenant` (nil = from before tenants: `default`) are visible to this key.
    func sees(tenant: String?) -> Bool {
        self.tenant == nil || self.tenant == (tenant ?? Tenant.default)
    }

    func sees(_ agent: AgentRecord) -> Bool { sees(tenant: agent.tenant) }

    /// The request as this key may see it: nil in another tenant; its arguments and result
    /// left out when the key could not have made a request of that kind (a viewer reads that
    /// an exec ran, not what it printed).
    func view(_ request: RequestRecord) -> RequestRecord? {
        guard sees(tenant: request.tenant) else { return nil }
        guard !role.includes(KeyRole.needed(for: request.kind)) else { return request }
        var redacted = request
        redacted.args = .null
        redacted.result = nil
        return redacted
    }

    /// Throws 403 unless the key's role includes `needed`.
    func require(_ needed: KeyRole, for action: String) throws {
        guard role.includes(needed) else {
            throw APIError(status: .forbidden, code: "forbidden", message: "\(action) needs a key with role \(needed.rawValue) or above; this key (\(name)) is \(role.rawValue)")
        }
    }
}
