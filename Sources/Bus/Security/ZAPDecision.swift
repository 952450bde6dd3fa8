import FleetProtocol
import ZeroMQ

/// The ZAP (RFC 27) decision for one connection, as a pure value so it can be tested
/// without sockets: given a request libzmq sent for a CURVE handshake, admit the client
/// (200, `User-Id` = `role:name`) only if its key is listed for a role that belongs on the
/// socket named by the request's domain; refuse (400) everything else.
public struct ZAPAuthorizer: Sendable {
    /// Client public key (32 raw bytes) -> who holds it.
    private let peers: [[UInt8]: BusPeerKey]

    public init(peers: [BusPeerKey]) {
        self.peers = Dictionary(peers.map { ($0.key.bytes, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Why a connection was refused: the `reason` label of `fleet_bus_auth_refused_total`.
    public enum Reason: String, Sendable {
        /// The client key is on no list.
        case unknownKey = "unknown_key"
        /// The key is listed, for a role that does not belong on this socket.
        case roleNotAllowed = "role_not_allowed"
        /// Not a CURVE handshake (only CURVE is admitted where ZAP is asked).
        case notCurve = "not_curve"
        /// A domain that names no bus socket.
        case unknownDomain = "unknown_domain"
        /// A request that does not follow RFC 27.
        case malformed
    }

    public struct Decision: Sendable, Equatable {
        /// The reply, after the envelope: `[1.0][request id][status][text][user id][metadata]`.
        public var reply: [[UInt8]]
        /// Who was admitted, or why not.
        public var outcome: Outcome
        public var domain: String
        /// The peer's address as libzmq reported it (for logs).
        public var address: String
    }

    public enum Outcome: Sendable, Equatable {
        case admitted(role: BusRole, name: String)
        case refused(Reason)
    }

    /// Decides on `request`, the frames after the envelope (routing id and empty delimiter):
    /// `[version][request id][domain][address][identity][mechanism][credentials...]`.
    public func decide(_ request: [[UInt8]]) -> Decision {
        func text(_ index: Int) -> String {
            request.indices.contains(index) ? String(decoding: request[index], as: UTF8.self) : ""
        }
        let requestId = request.count > 1 ? request[1] : []
        let domain = text(2)
        let address = text(3)
        func refuse(_ reason: Reason) -> Decision {
            Decision(
                reply: [Array("1.0".utf8), requestId, Array("400".utf8), Array(reason.rawValue.utf8), [], []],
                outcome: .refused(reason), domain: domain, address: address
            )
        }
        guard request.count >= 6, text(0) == "1.0" else { return refuse(.malformed) }
        guard let socket = BusSocket(rawValue: domain) else { return refuse(.unknownDomain) }
        guard text(5) == "CURVE" else { return refuse(.notCurve) }
        guard request.count == 7, request[6].count == 32 else { return refuse(.malformed) }
        guard let peer = peers[request[6]] else { return refuse(.unknownKey) }
        guard BusPolicy.admits(peer.role, on: socket) else { return refuse(.roleNotAllowed) }
        return Decision(
            reply: [
                Array("1.0".utf8), requestId, Array("200".utf8), Array("OK".utf8),
                Array(BusRole.userId(role: peer.role, name: peer.name).utf8), [],
            ],
            outcome: .admitted(role: peer.role, name: peer.name), domain: domain, address: address
        )
    }
}
