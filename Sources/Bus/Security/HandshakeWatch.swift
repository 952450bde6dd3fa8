import FleetProtocol
import FleetSupport
import Logging
import Synchronization
import ZeroMQ

/// Counts and logs the handshakes on the registry's CURVE sockets that fail before the ZAP
/// handler is asked: a peer with no keys at all (mechanism mismatch) or with the wrong
/// registry key (its boxes do not open). Without this such peers were invisible: libzmq drops
/// them during the greeting, so an operator who forgot `bus.curve` on one gateway would see
/// nothing on the registry. Uses libzmq's socket monitor, one PAIR per watched socket.
public final class HandshakeWatch: Sendable {
    private let monitors = Mutex<[(BusSocket, ZMQSocket)]>([])
    private let log: RefusalLog
    private let logger: Logger
    private let onRefused: @Sendable (_ socket: String, _ reason: String) -> Void

    public init(logger: Logger, onRefused: @escaping @Sendable (_ socket: String, _ reason: String) -> Void) {
        self.logger = logger
        self.log = RefusalLog(logger: logger)
        self.onRefused = onRefused
    }

    /// Watches `zmq` (call before it binds, from `BusSecurity.serve`).
    func watch(_ zmq: ZMQSocket, as socket: BusSocket) throws {
        let pair = try zmq.monitor(events: ZMQSocketEvent.handshakeFailedProtocol | ZMQSocketEvent.handshakeFailedNoDetail)
        monitors.withLock { $0.append((socket, pair)) }
    }

    /// Why a failed handshake failed: the `reason` label of `fleet_bus_auth_refused_total`.
    /// A peer without keys shows as `not_curve` when the registry reads its greeting first, and
    /// as `handshake_failed` when the peer, seeing the registry's CURVE greeting, hangs up first.
    static func reason(_ event: ZMQSocketEvent) -> String {
        guard event.event == ZMQSocketEvent.handshakeFailedProtocol else { return "handshake_failed" }
        switch event.value {
        case ZMQSocketEvent.protocolErrorMechanismMismatch: return "not_curve"
        case ZMQSocketEvent.protocolErrorCryptographic: return "bad_key"
        default: return "protocol_error"
        }
    }

    /// Reads every watched socket's events until cancelled or the context shuts down.
    public func run() async {
        let watched = monitors.withLock { $0 }
        await withTaskGroup(of: Void.self) { group in
            for (socket, pair) in watched {
                group.addTask { await self.follow(pair, socket: socket) }
            }
        }
    }

    private func follow(_ pair: ZMQSocket, socket: BusSocket) async {
        do {
            for await batch in try pair.receiver() {
                for message in batch {
                    guard let event = ZMQSocketEvent(message) else { continue }
                    let reason = Self.reason(event)
                    onRefused(socket.rawValue, reason)
                    log.refused(
                        "\(socket.rawValue)/\(reason)", "bus connection refused",
                        metadata: ["socket": "\(socket.rawValue)", "reason": "\(reason)", "address": "\(event.endpoint)"]
                    )
                }
            }
        } catch {
            logger.debug("handshake watch stopped", metadata: ["socket": "\(socket.rawValue)", "error": "\(error)"])
        }
    }
}
