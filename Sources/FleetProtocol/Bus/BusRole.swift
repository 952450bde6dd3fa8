/// Who a peer on the master's bus is, as the registry's ZAP handler established it from the
/// CURVE key the peer presented (see docs/architecture.md, "Bus security"). The registry
/// itself is not a role: it is the CURVE server every other role verifies.
public enum BusRole: String, Sendable, CaseIterable, Codable {
    case gateway
    case worker

    /// The ZAP `User-Id` the registry's handler gives a peer: `role:name`, the name being the
    /// key's (its file name, e.g. `gateway:gateway-1`), so logs can say which key was used.
    public static func userId(role: BusRole, name: String) -> String { "\(role.rawValue):\(name)" }

    /// The role named by a ZAP `User-Id` (`role` or `role:name`); nil for anything else.
    public init?(userId: String) {
        let role = userId.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        self.init(rawValue: role)
    }
}

/// The registry's bus sockets, by their configuration key (`bus.<name>`); the raw value is
/// also each socket's ZAP domain and its `socket` label in metrics.
public enum BusSocket: String, Sendable, CaseIterable {
    case events
    case updates
    case snapshot
    case jobsIn = "jobs_in"
    case jobsOut = "jobs_out"
    case blobs
}
