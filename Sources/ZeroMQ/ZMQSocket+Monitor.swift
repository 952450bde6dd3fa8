import CZeroMQ
import Synchronization

/// One event from libzmq's socket monitor (`zmq_socket_monitor`): what happened on one of
/// the monitored socket's connections. Frames: `[uint16 event, uint32 value][endpoint]`.
public struct ZMQSocketEvent: Sendable, Equatable {
    /// `ZMQ_EVENT_*`.
    public var event: Int32
    /// Depends on the event: an errno, a `ZMQ_PROTOCOL_ERROR_*`, a ZAP status code.
    public var value: UInt32
    /// The peer's address (for a bound socket) or the endpoint (for a connecting one).
    public var endpoint: String

    /// A handshake broke the protocol; `value` says how (`protocolError*`).
    public static let handshakeFailedProtocol = Int32(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
    /// A handshake failed on a system error; `value` is the errno.
    public static let handshakeFailedNoDetail = Int32(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
    /// The peer speaks another security mechanism (e.g. none, to a CURVE server).
    public static let protocolErrorMechanismMismatch = UInt32(ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
    /// A CURVE box did not open: the client has the wrong server key, or the bytes were forged.
    public static let protocolErrorCryptographic = UInt32(ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)

    public init?(_ message: ZMQMessage) {
        guard message.frames.count == 2, message.frames[0].count == 6 else { return nil }
        // Written with memcpy in host order by libzmq.
        let head = message.frames[0]
        let event = head.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: UInt16.self) }
        value = head.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 2, as: UInt32.self) }
        self.event = Int32(event)
        endpoint = String(decoding: message.frames[1], as: UTF8.self)
    }
}

extension ZMQSocket {
    private static let monitors = Atomic<Int>(0)

    /// Starts libzmq's monitor for `events` (a mask of `ZMQ_EVENT_*`) on this socket and
    /// returns a PAIR socket of the same context that receives them as `ZMQSocketEvent`s.
    /// The PAIR has linger 0: nothing of value ever waits in it at shutdown.
    public func monitor(events: Int32) throws -> ZMQSocket {
        let endpoint = "inproc://zmq-monitor-\(context.threadNamePrefix)-\(Self.monitors.add(1, ordering: .relaxed).newValue)"
        try withRaw("zmq_socket_monitor") { raw in
            guard zmq_socket_monitor(raw, endpoint, events) == 0 else { throw ZMQError.last("zmq_socket_monitor \(endpoint)") }
        }
        let pair = try context.socket(.pair)
        try pair.setLinger(milliseconds: 0)
        try pair.connect(endpoint)
        return pair
    }
}
