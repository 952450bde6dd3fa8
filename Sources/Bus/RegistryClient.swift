#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import FleetProtocol
import Logging
import Synchronization
import ZeroMQ

/// Asks the registry for what gateways do not replicate (history), over its own DEALER to
/// the registry's ROUTER. Requests carry a nonce; answers are matched to waiters by it, and a
/// waiter gives up after its timeout (the registry may be down or restarting).
public final class RegistryClient: Sendable {
    private let dealer: ZMQSocket
    private let logger: Logger
    private let waiters = Mutex<[String: CheckedContinuation<Result<[UInt8], QueryError>, Never>]>([:])

    public init(context: BusContext, endpoint: String, security: BusSecurity, logger: Logger) throws {
        self.dealer = try context.zmq.socket(.dealer)
        self.logger = logger
        try BusTuning.apply(to: dealer, highWaterMark: BusTuning.taskHighWaterMark)
        try security.connect(dealer)
        try dealer.connect(endpoint)
    }

    /// Receives answers until cancelled.
    public func run() async {
        do {
            for await batch in try dealer.receiver() {
                for message in batch {
                    // [query][nonce][ok|error][body]
                    guard message.frames.count == 4, message.string(at: 0) == RegistryQuery.frame, let nonce = message.string(at: 1) else {
                        continue
                    }
                    let result: Result<[UInt8], QueryError> = message.string(at: 2) == "ok"
                        ? .success(message.frames[3])
                        : .failure((try? FleetJSON.decode(QueryError.self, from: message.frames[3])) ?? QueryError(code: "internal", message: "unreadable error"))
                    resume(nonce, with: result)
                }
            }
        } catch {
            logger.error("registry query stream stopped", metadata: ["error": "\(error)"])
        }
    }

    /// Sends a query and waits for its answer (at most `timeout`).
    public func query<Q: Encodable>(_ kind: String, _ body: Q, timeout: Duration = .seconds(5)) async -> Result<[UInt8], QueryError> {
        let nonce = UUID().uuidString
        let bytes: [UInt8]
        do { bytes = try FleetJSON.encode(body) } catch { return .failure(QueryError(code: "internal", message: "\(error)")) }
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            self?.resume(nonce, with: .failure(QueryError(code: "timeout", message: "the registry did not answer within \(timeout)")))
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            waiters.withLock { $0[nonce] = continuation }
            do {
                if try !dealer.trySend(ZMQMessage([Array(RegistryQuery.frame.utf8), Array(nonce.utf8), Array(kind.utf8), bytes])) {
                    resume(nonce, with: .failure(QueryError(code: "unavailable", message: "registry queue full")))
                }
            } catch {
                resume(nonce, with: .failure(QueryError(code: "unavailable", message: "\(error)")))
            }
        }
    }

    private func resume(_ nonce: String, with result: Result<[UInt8], QueryError>) {
        let waiter = waiters.withLock { $0.removeValue(forKey: nonce) }
        waiter?.resume(returning: result)
    }
}
