/// The form of an agent's own secret (`fac_` + 64 lower-case hex, 256 random bits), shared by
/// the gateway, which checks it, and the agent, which makes it.
///
/// Why the agent makes its own: if the master made it, a `welcome` lost after the registry
/// bound the id (a gateway killed, a busy registry answering after the session closed, an
/// overload run: ~390 of 10,000 simulated agents) would leave the id bound to a secret
/// nobody holds, and the agent locked out for good. An agent that made its secret and
/// stored it (0600) before its first session presents it beside the enrollment token; the
/// registry binds the digest of what the agent already has, and any retry finds it bound.
public enum AgentSecret {
    public static let prefix = "fac_"

    /// A new secret from the system's CSPRNG (`SystemRandomNumberGenerator`: getrandom(2) on
    /// Linux, arc4random on Darwin, BCryptGenRandom on Windows).
    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8]()
        bytes.reserveCapacity(32)
        for _ in 0..<4 {
            withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) }
        }
        return prefix + Hex.encode(bytes)
    }

    /// Whether `text` has the form of an agent secret.
    public static func isWellFormed(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 68, text.hasPrefix(prefix) else { return false }
        return bytes[4...].allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}
