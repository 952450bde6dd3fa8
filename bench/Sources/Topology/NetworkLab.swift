import Foundation

/// One network namespace per master role, joined by a bridge in the caller's namespace, so
/// every bus and WebSocket byte crosses a veth pair and a real IP hop instead of loopback.
///
///     bench (root ns) 10.77.<n>.1-9 ── bridge flb<n> ── veth ── ns fl<n>-registry  10.77.<n>.10
///                                                   ├── veth ── ns fl<n>-gateway-1 10.77.<n>.11
///                                                   └── …
///
/// Needs root (CAP_NET_ADMIN) and iproute2; everything is removed by ``tearDown()``.
final class NetworkLab {
    private let tag: Int
    private let bridge: String
    private var namespaces: [String: String] = [:]
    private var order: [String] = []

    init() throws {
        tag = Int.random(in: 1...250)
        bridge = "flb\(tag)"
        try Self.ip("link", "add", bridge, "type", "bridge")
        for host in 1...9 { try Self.ip("addr", "add", "10.77.\(tag).\(host)/24", "dev", bridge) }
        try Self.ip("link", "set", bridge, "up")
    }

    /// The bridge's own addresses, for simulated agents to bind as their source.
    var clientAddresses: [String] { (1...9).map { "10.77.\(tag).\($0)" } }

    func namespace(of role: String) -> String? { namespaces[role] }

    /// Creates the role's namespace and veth pair; returns the address the role should bind.
    func addRole(_ role: String) throws -> String {
        if let existing = namespaces[role] { return address(of: existing) }
        let index = order.count
        let namespace = "fl\(tag)-\(role)"
        let outside = "fv\(tag)o\(index)", inside = "fv\(tag)i\(index)"
        try Self.ip("netns", "add", namespace)
        try Self.ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        try Self.ip("link", "set", inside, "netns", namespace)
        try Self.ip("link", "set", outside, "master", bridge)
        try Self.ip("link", "set", outside, "up")
        let host = "10.77.\(tag).\(10 + index)"
        try Self.ip("netns", "exec", namespace, "ip", "addr", "add", "\(host)/24", "dev", inside)
        try Self.ip("netns", "exec", namespace, "ip", "link", "set", inside, "up")
        try Self.ip("netns", "exec", namespace, "ip", "link", "set", "lo", "up")
        namespaces[role] = namespace
        order.append(role)
        addresses[namespace] = host
        return host
    }

    private var addresses: [String: String] = [:]
    private func address(of namespace: String) -> String { addresses[namespace] ?? "127.0.0.1" }

    func tearDown() {
        for role in order { if let namespace = namespaces[role] { try? Self.ip("netns", "del", namespace) } }
        try? Self.ip("link", "del", bridge)
        namespaces = [:]
        order = []
    }

    private static func ip(_ arguments: String...) throws {
        try Command.run("/usr/sbin/ip", arguments)
    }
}
