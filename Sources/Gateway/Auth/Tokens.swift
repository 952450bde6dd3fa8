import HTTPTypes

/// The bootstrap tokens every gateway of a deployment is configured with: the enrollment
/// token agents present on their first session (`auth.agent_token`) and the admin token
/// (`auth.admin_token`). Keys made later with `master tokens create` come from the registry
/// (see `KeyRing`). Auth is on by default: the seed had none, and an open fleet API is remote
/// code execution waiting for the exec callback.
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

    /// Compares without an early exit on the first different byte, so response time does
    /// not reveal how much of a guessed token is right.
    public static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference: UInt8 = x.count == y.count ? 0 : 1
        for index in 0..<max(x.count, y.count) {
            let left = index < x.count ? x[index] : 0
            let right = index < y.count ? y[index] : 0
            difference |= left ^ right
        }
        return difference == 0
    }
}

extension GatewayTokens {
    /// A token as presented, without surrounding blanks (a header value copied with its newline).
    static func trimmed(_ text: String) -> String {
        var slice = text[...]
        while slice.first == " " || slice.first == "\t" { slice = slice.dropFirst() }
        while slice.last == " " || slice.last == "\t" || slice.last == "\r" || slice.last == "\n" { slice = slice.dropLast() }
        return String(slice)
    }
}
