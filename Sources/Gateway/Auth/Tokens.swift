import HTTPTypes

/// The bearer tokens a gateway accepts, by scope. Auth is on by default: the seed had none,
/// and an open fleet API is remote code execution waiting for the exec callback.
public struct GatewayTokens: Sendable {
    /// Enrollment tokens agents present when opening their WebSocket.
    public var agent: [String]
    /// Tokens for the admin API (`/api/v1/...`).
    public var admin: [String]

    public init(agent: [String], admin: [String]) {
        self.agent = agent.filter { !$0.isEmpty }
        self.admin = admin.filter { !$0.isEmpty }
    }

    /// No authentication at all (`auth.enabled: false`): for a lab, never the default.
    public static let disabled = GatewayTokens(agent: [], admin: [])
    public var isDisabled: Bool { agent.isEmpty && admin.isEmpty }

    public enum Scope: Sendable { case agent, admin }

    public enum Verdict: Equatable, Sendable {
        case allowed
        /// No credentials, or credentials that match no token (401).
        case unauthenticated(String)
        /// A valid token of another scope (403).
        case forbidden(String)
    }

    /// Checks the request's `Authorization: Bearer <token>` for `scope`.
    public func check(_ headers: HTTPFields, for scope: Scope) -> Verdict {
        if isDisabled { return .allowed }
        guard let header = headers[.authorization] else {
            return .unauthenticated("missing Authorization: Bearer token")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            return .unauthenticated("Authorization must be 'Bearer <token>'")
        }
        let presented = String(parts[1]).trimmingCharacters()
        let (wanted, other) = scope == .admin ? (admin, agent) : (agent, admin)
        if wanted.contains(where: { Self.constantTimeEqual($0, presented) }) { return .allowed }
        if other.contains(where: { Self.constantTimeEqual($0, presented) }) {
            return .forbidden(scope == .admin ? "an agent token cannot use the admin API" : "an admin token cannot open an agent session")
        }
        return .unauthenticated("invalid token")
    }

    /// Compares without an early exit on the first different byte, so response time does
    /// not reveal how much of a guessed token is right.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(truncatingIfNeeded: x.count ^ y.count)
        for index in 0..<max(x.count, y.count) {
            let left = index < x.count ? x[index] : 0
            let right = index < y.count ? y[index] : 0
            difference |= left ^ right
        }
        return difference == 0
    }
}

extension String {
    fileprivate func trimmingCharacters() -> String {
        var slice = self[...]
        while slice.first == " " || slice.first == "\t" { slice = slice.dropFirst() }
        while slice.last == " " || slice.last == "\t" || slice.last == "\r" || slice.last == "\n" { slice = slice.dropLast() }
        return String(slice)
    }
}
