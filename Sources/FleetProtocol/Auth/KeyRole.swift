/// What a bearer key may do. Roles are ordered: each one can do everything the one below it
/// can (viewer < operator < admin); `enrollment` is apart: it only opens an agent's first
/// session (and never reaches the admin API).
///
/// Why these three operator roles: reading the fleet is harmless, asking an agent for its
/// figures or a log file is not (a log may hold secrets), and anything that runs a command,
/// changes an agent or changes who may do what is root on every host the key reaches.
public enum KeyRole: String, Codable, Sendable, CaseIterable {
    /// Reads: agents, history, alerts, requests (without what they carry), the event stream,
    /// `/metrics/fleet`.
    case viewer
    /// Adds `status` and `logs` requests and reading what they bring back.
    case `operator`
    /// Adds `exec`, `config`, `restart`, deleting agents, approving and revoking them, API
    /// keys and enrollment tokens, and the audit log.
    case admin
    /// An enrollment token: lets a new agent open its first session (and get its own
    /// credential). Never valid on the admin API.
    case enrollment

    /// The rank among operator roles; nil for `enrollment`.
    var rank: Int? {
        switch self {
        case .viewer: 0
        case .operator: 1
        case .admin: 2
        case .enrollment: nil
        }
    }

    /// Whether a key of this role may do what `needed` may.
    public func includes(_ needed: KeyRole) -> Bool {
        guard let mine = rank, let wanted = needed.rank else { return self == needed }
        return mine >= wanted
    }

    /// The least role that may create (and read the arguments and results of) a request of `kind`.
    public static func needed(for kind: CallbackKind) -> KeyRole {
        switch kind {
        case .status, .logs: .operator
        case .exec, .config, .restart: .admin
        }
    }
}

/// Tenants: every agent belongs to exactly one (the tenant of the enrollment token it
/// enrolled with), and a key belongs to one or to all.
public enum Tenant {
    /// The tenant of agents enrolled with the bootstrap token (`auth.agent_token`), and of
    /// anything made before tenants existed.
    public static let `default` = "default"

    /// Tenant names appear in URLs, labels and logs: a conservative alphabet.
    public static func isValid(_ name: String) -> Bool {
        guard (1...64).contains(name.utf8.count) else { return false }
        return name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2D || byte == 0x5F
        }
    }
}
