import Crypto
import FleetProtocol

/// The secrets a gateway makes: 256 random bits, hex, behind a prefix that says what they
/// are (secret scanners, and people reading a leaked file, can tell them apart). Only their
/// SHA-256 ever leaves the gateway; the secret goes once to whoever it is for.
enum Secrets {
    /// An agent's own credential, handed out in the `welcome` of the session that enrolled it.
    static func agentCredential() -> String { "fac_" + random(bytes: 32) }
    /// An API key or enrollment token, shown once in the answer to `POST /api/v1/tokens`.
    static func apiKey(role: KeyRole) -> String { (role == .enrollment ? "fle_" : "flk_") + random(bytes: 32) }
    /// Whether `text` has the form of an agent credential (`fac_` + 64 lower-case hex).
    static func isAgentCredential(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 68, text.hasPrefix("fac_") else { return false }
        return bytes[4...].allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// A key's public id (`k-` + 12 hex).
    static func keyId() -> String { "k-" + random(bytes: 6) }

    private static func random(bytes: Int) -> String {
        Hex.encode(SymmetricKey(size: .init(bitCount: bytes * 8)).withUnsafeBytes { Array($0) })
    }
}
