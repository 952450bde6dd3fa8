/// What each role may do on the bus once keys are configured: which of the registry's
/// sockets admits it, and which event kinds it may send on `events`. One table each, so a
/// new event kind is one line here; a kind missing from the table is refused from everyone
/// (deny by default), and `BusPolicyTests` fails for any `BusEvent` kind not listed.
///
/// Without keys (`master serve` over inproc://, or a loopback bus with no `bus.curve`)
/// there are no roles to check and everything is allowed, as it always was.
public enum BusPolicy {
    /// Event kind -> the roles that may send it.
    public static let eventSenders: [String: Set<BusRole>] = [
        "session.opened": [.gateway],
        "session.heartbeat": [.gateway],
        "session.heartbeats": [.gateway],
        "session.closed": [.gateway],
        "session.samples": [.gateway],
        "gateway.heartbeat": [.gateway],
        "request.created": [.gateway],
        "agent.delete": [.gateway],
        "agent.approve": [.gateway],
        "agent.revoke": [.gateway],
        "key.created": [.gateway],
        "key.revoked": [.gateway],
        "audit.record": [.gateway],
        "worker.heartbeat": [.worker],
        "request.result": [.worker],
    ]

    /// Registry socket -> the roles its ZAP domain admits. Nobody but the registry
    /// publishes (gateways and workers verify its key), and nobody but a worker takes jobs.
    public static let socketPeers: [BusSocket: Set<BusRole>] = [
        .events: [.gateway, .worker],
        .updates: [.gateway],
        .snapshot: [.gateway],
        .jobsIn: [.gateway],
        .jobsOut: [.worker],
        .blobs: [.worker],
    ]

    /// Whether `role` may send events of `kind`.
    public static func allows(kind: String, role: BusRole) -> Bool {
        eventSenders[kind]?.contains(role) ?? false
    }

    /// Whether `role` may connect to `socket`.
    public static func admits(_ role: BusRole, on socket: BusSocket) -> Bool {
        socketPeers[socket]?.contains(role) ?? false
    }
}
