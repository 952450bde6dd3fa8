import FleetProtocol
import ZeroMQ

/// How the bus is protected, handed to every bus socket a role makes.
///
/// - `none`: no mechanism (ZeroMQ's NULL). Right for `master serve` (inproc:// never leaves
///   the process) and a loopback bus on a trusted host; `master` refuses it on a network
///   unless `bus.insecure: true` (see docs/architecture.md, "Bus security").
/// - `curve`: every connection is CurveZMQ-encrypted. The registry's sockets are CURVE
///   servers whose ZAP handler admits only listed keys, per socket and role; gateways and
///   workers are CURVE clients that verify the registry's public key, so nobody else can
///   pose as the registry or publish to them.
public enum BusSecurity: Sendable, CustomStringConvertible {
    case none
    case curve(BusCurve)

    /// Whether peers are authenticated (and events checked against their role).
    public var isEnforced: Bool {
        if case .curve = self { return true }
        return false
    }

    /// Prepares a registry socket before it binds: a CURVE server in `socket`'s ZAP domain.
    public func serve(_ zmq: ZMQSocket, as socket: BusSocket) throws {
        guard case .curve(let curve) = self else { return }
        try zmq.makeCurveServer(secretKey: curve.keyPair.secretKey, zapDomain: socket.rawValue)
        try curve.handshakes?.watch(zmq, as: socket)
    }

    /// Prepares a gateway's or worker's socket before it connects: a CURVE client that
    /// accepts only the registry's key.
    public func connect(_ zmq: ZMQSocket) throws {
        guard case .curve(let curve) = self else { return }
        try zmq.makeCurveClient(serverKey: curve.registryKey, keyPair: curve.keyPair)
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .curve(let curve): "curve (own key \(curve.keyPair.publicKey), registry \(curve.registryKey), \(curve.peers.count) peer key(s))"
        }
    }
}

/// The keys of a CURVE bus, as one process sees them.
public struct BusCurve: Sendable {
    /// This process's keypair (the registry's own, or this gateway's or worker's).
    public var keyPair: CurveKeyPair
    /// The registry's public key: what clients verify (on the registry, its own).
    public var registryKey: CurveKey
    /// Registry only: the client keys it admits, each with its role.
    public var peers: [BusPeerKey]
    /// Registry only: where handshakes that fail before ZAP (no keys, wrong registry key) are
    /// counted; every socket `serve` prepares is watched.
    public var handshakes: HandshakeWatch?

    public init(keyPair: CurveKeyPair, registryKey: CurveKey, peers: [BusPeerKey] = [], handshakes: HandshakeWatch? = nil) {
        self.keyPair = keyPair
        self.registryKey = registryKey
        self.peers = peers
        self.handshakes = handshakes
    }
}

/// A client key the registry admits: whose it is (`name`, e.g. `gateway-1`) and its role.
public struct BusPeerKey: Sendable, Hashable {
    public var role: BusRole
    public var name: String
    public var key: CurveKey

    public init(role: BusRole, name: String, key: CurveKey) {
        self.role = role
        self.name = name
        self.key = key
    }
}
