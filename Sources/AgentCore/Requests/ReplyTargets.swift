import Synchronization

/// Where the agent POSTs its replies: first the REST API of the gateway whose socket the
/// agent was last welcomed on, then `master.api_url`.
///
/// Why not `master.api_url` alone: a fixed reply URL points at one gateway; when that gateway
/// dies, the agent, back online on another one, failed every callback for as long as the
/// first was down (every attempt to a dead address). Every gateway serves the callbacks API
/// next to its socket, so the connected gateway can always take the reply; `master.api_url`
/// stays the fallback (a REST load balancer, or a proxy that routes only the socket).
public final class ReplyTargets: Sendable {
    private let configured: String
    private let connected = Mutex<String?>(nil)

    public init(apiURL: String) {
        configured = Self.trimmed(apiURL)
    }

    /// The socket the agent is welcomed on now (kept after a disconnect: until the next
    /// welcome, the last gateway is still the best guess).
    public func welcomed(on webSocketURL: String) {
        let base = Self.apiBase(forWebSocket: webSocketURL)
        connected.withLock { $0 = base }
    }

    /// The bases to try, in order, for one delivery attempt: attempt 0 the connected gateway,
    /// attempt 1 `master.api_url`, and so on in turn (just one when they are the same).
    public func base(forAttempt attempt: Int) -> String {
        let candidates = self.candidates
        return candidates[attempt % candidates.count]
    }

    public var candidates: [String] {
        guard let connected = connected.withLock({ $0 }), connected != configured else { return [configured] }
        return [connected, configured]
    }

    /// `ws://host:port/prefix/ws` -> `http://host:port/prefix/api` (wss -> https): the API path
    /// next to the socket path, as a gateway serves them. Nil for anything else.
    public static func apiBase(forWebSocket url: String) -> String? {
        let scheme: String
        let rest: Substring
        if url.hasPrefix("wss://") {
            scheme = "https://"
            rest = url.dropFirst("wss://".count)
        } else if url.hasPrefix("ws://") {
            scheme = "http://"
            rest = url.dropFirst("ws://".count)
        } else {
            return nil
        }
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.isEmpty else { return nil }
        var path = rest.dropFirst(authority.count).prefix { $0 != "?" && $0 != "#" }
        while path.hasSuffix("/") { path = path.dropLast() }
        // Drop the socket's own path segment (`ws` by default): its parent holds `api`.
        if let slash = path.lastIndex(of: "/") { path = path[..<slash] }
        return scheme + authority + path + "/api"
    }

    private static func trimmed(_ url: String) -> String {
        var url = Substring(url)
        while url.hasSuffix("/") { url = url.dropLast() }
        return String(url)
    }
}
