#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One line of the audit log: who did (or tried) what, from where, to which agent, and how
/// it ended. Written for every mutating admin call and every request, kept for
/// `audit.retention` (default 90 days) whatever the request retention is, append-only.
public struct AuditEntry: Codable, Sendable, Equatable {
    /// Row number in the registry's store (nil until stored).
    public var id: Int64?
    public var at: Date
    /// The key that made the call (`bootstrap-admin` for `auth.admin_token`).
    public var keyId: String
    public var keyName: String
    /// The tenant the call acted in: the agent's, or the key's for tenant-wide actions.
    public var tenant: String?
    /// Where the call came from (`ip:port` as the gateway saw it).
    public var source: String?
    /// The gateway that took the call.
    public var gatewayId: String
    /// `callback.exec`, `agent.delete`, `agent.revoke`, `token.create`, ...
    public var action: String
    public var agentId: String?
    /// The request the call created, if any.
    public var requestId: String?
    /// SHA-256 (hex) of the call's arguments as JSON: enough to prove later what was asked,
    /// without keeping command lines or settings in the log.
    public var argsSHA256: String?
    /// The HTTP status it was answered with (202, 403, ...).
    public var status: Int
    /// `ok` or the error code (`forbidden`, `not_found`, ...).
    public var outcome: String

    public init(
        at: Date, keyId: String, keyName: String, tenant: String?, source: String?, gatewayId: String, action: String,
        agentId: String?, requestId: String?, argsSHA256: String?, status: Int, outcome: String
    ) {
        self.at = at
        self.keyId = keyId
        self.keyName = keyName
        self.tenant = tenant
        self.source = source
        self.gatewayId = gatewayId
        self.action = action
        self.agentId = agentId
        self.requestId = requestId
        self.argsSHA256 = argsSHA256
        self.status = status
        self.outcome = outcome
    }
}

/// `GET /api/v1/audit` answer, newest first.
public struct AuditListResponse: Codable, Sendable, Equatable {
    public var entries: [AuditEntry]
    public init(entries: [AuditEntry]) { self.entries = entries }
}
