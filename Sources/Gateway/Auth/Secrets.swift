import Crypto
import FleetProtocol

/// The secrets a gateway makes: 256 random bits, hex, behind a prefix that says what they
/// are (secret scanners, and people reading a leaked file, can tell them apart). Only their
/// SHA-256 ever leaves the gateway; the secret goes once to whoever it is for.
enum Secrets {
    /// An agent's own credential, handed out in the `welcome` of the session that enrolled it
    /// (for agents that did not bring one: older agents, or the test agents).
    static func agentCredential() -> String { AgentSecret.make() }
    /// An API key or enrollment token, shown once in the answer to `POST /api/v1/tokens`.
    static func apiKey(role: KeyRole) -> String { (role == .enrollment ? "fle_" : "flk_") + random(bytes: 32) }
    /// Whether `text` has the form of an agent credential (`fac_` + 64 lower-case hex).
    static func isAgentCredential(_ text: String) -> Bool { AgentSecret.isWellFormed(text) }

    /// A key's public id (`k-` + 12 hex).
    static func keyId() -> String { "k-" + random(bytes: 6) }

    private static func random(bytes: Int) -> String {
        Hex.encode(SymmetricKey(size: .init(bitCount: bytes * 8)).withUnsafeBytes { Array($0) })
    }
}
