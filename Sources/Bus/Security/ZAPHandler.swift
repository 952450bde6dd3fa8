import FleetProtocol
import FleetSupport
import Logging
import ZeroMQ

/// The registry's ZAP handler (RFC 27): libzmq asks it about every CURVE handshake on the
/// registry's sockets, and it answers with `ZAPAuthorizer`'s decision.
///
/// It must be bound before any CURVE server socket of the same context binds: libzmq 4.3
/// admits every client key on a CURVE socket whose context has no handler. A ROUTER serves
/// libzmq's internal REQ-like clients as long as the envelope (routing id, empty delimiter)
/// is sent back in front of the reply.
public final class ZAPHandler: Sendable {
    /// Where libzmq looks for the handler, in the socket's own context.
    public static let endpoint = "inproc://zeromq.zap.01"

    private let router: ZMQSocket
    private let authorizer: ZAPAuthorizer
    private let log: RefusalLog
    private let logger: Logger
    private let onRefused: @Sendable (_ socket: String, _ reason: ZAPAuthorizer.Reason) -> Void

    /// Binds the handler in `context` (it answers once `run()` is running; handshakes wait).
    /// - Parameter onRefused: called for every refusal (the registry counts them).
    public init(
        context: BusContext, peers: [BusPeerKey], logger: Logger,
        onRefused: @escaping @Sendable (_ socket: String, _ reason: ZAPAuthorizer.Reason) -> Void
    ) throws {
        self.router = try context.zmq.socket(.router)
        self.authorizer = ZAPAuthorizer(peers: peers)
        self.logger = logger
        self.log = RefusalLog(logger: logger)
        self.onRefused = onRefused
        // Nothing of value waits in it at shutdown; never hold zmq_ctx_term on it.
        try router.setLinger(milliseconds: 0)
        try router.bind(Self.endpoint)
    }

    /// Answers requests until the context shuts down or the task is cancelled.
    public func run() async {
        do {
            for await batch in try router.receiver() {
                for message in batch {
                    await answer(message)
                }
            }
        } catch {
            logger.error("ZAP handler stopped: CURVE handshakes will wait", metadata: ["error": "\(error)"])
        }
    }

    private func answer(_ message: ZMQMessage) async {
        // [routing id][empty][request...]
        guard message.frames.count >= 2, message.frames[1].isEmpty else {
            logger.warning("malformed ZAP envelope ignored", metadata: ["frames": "\(message.frames.count)"])
            return
        }
        let decision = authorizer.decide(Array(message.frames.dropFirst(2)))
        switch decision.outcome {
        case .admitted(let role, let name):
            logger.debug("bus peer admitted", metadata: [
                "socket": "\(decision.domain)", "role": "\(role.rawValue)", "key": "\(name)", "address": "\(decision.address)",
            ])
        case .refused(let reason):
            let socket = BusSocket(rawValue: decision.domain)?.rawValue ?? "unknown"
            onRefused(socket, reason)
            log.refused(
                "\(socket)/\(reason.rawValue)", "bus connection refused",
                metadata: ["socket": "\(socket)", "reason": "\(reason.rawValue)", "address": "\(decision.address)"]
            )
        }
        do {
            try await router.send([message.frames[0], []] + decision.reply)
        } catch {
            logger.warning("ZAP reply not sent", metadata: ["error": "\(error)"])
        }
    }
}
