import Crypto
import FleetProtocol
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Single-use reply tokens for callbacks: `<requestId>.<HMAC-SHA256(secret, requestId \n agentId)>`.
///
/// The token is bound to the request and the agent by the MAC, and names its request so a
/// gateway can tell "a token for another request" (403) from "not a token" (401). Gateways
/// hold no secret: the replicated request record carries the SHA-256 of its token, which is
/// all a gateway needs to check one. Single use is enforced by the request's state (a reply
/// to a finished request is 409).
public struct ReplyTokens: Sendable {
    private let key: SymmetricKey

    /// A fresh random secret per registry run: tokens only need to outlive their request.
    public init() {
        self.key = SymmetricKey(size: .bits256)
    }

    public init(secret: [UInt8]) {
        self.key = SymmetricKey(data: secret)
    }

    public func token(requestId: String, agentId: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(requestId)\n\(agentId)".utf8), using: key)
        return "\(requestId).\(Hex.encode(mac))"
    }

    /// What replicas keep to check a presented token.
    public static func digest(of token: String) -> String {
        Hex.encode(SHA256.hash(data: Array(token.utf8)))
    }
}
