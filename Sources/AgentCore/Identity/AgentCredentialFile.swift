import FleetSupport

/// The agent's own credential, `<state_dir>/credential` (0600 from its first byte): made by
/// the agent before its first session (`AgentSecret`) and bound to its id by the session
/// that enrolls it (older masters issue one in the `welcome`, stored here too); presented
/// on every session, beside the enrollment token. Losing it means enrolling again under a new
/// id (the old id stays bound to the lost credential), which is what a copied or stolen
/// state directory must not be able to avoid.
public struct AgentCredentialFile: Sendable {
    public let path: String

    public init(stateDir: String) {
        self.path = "\(stateDir)/credential"
    }

    /// The stored credential, or nil before the first session.
    public func load() -> String? {
        guard let text = TextFile.read(path, limit: 4096) else { return nil }
        return text.split(whereSeparator: \.isWhitespace).first.map(String.init)
    }

    public func store(_ credential: String) throws {
        try AtomicFile.write("\(credential)\n", to: path, mode: 0o600)
    }
}
