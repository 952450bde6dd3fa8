import FleetProtocol
import Hummingbird
import NIOCore
import Synchronization

/// The gateway's request context: Hummingbird's context plus who is
/// calling (set by `AuthMiddleware`), where from, and a note handlers leave for the audit log.
struct GatewayRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The peer as the gateway sees it (a balancer's address when behind one).
    let remoteAddress: SocketAddress?
    /// The connection, so a body that stops arriving can have its connection closed.
    let channel: any Channel
    /// The authenticated caller; nil before `AuthMiddleware` ran (and on agents' own routes).
    var principal: Principal?
    /// Shared by reference between middleware and the handler, because a context is passed
    /// down by value: what the handler writes here, the audit middleware reads afterwards.
    let exchange = Exchange()

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.channel = source.channel
    }

    /// The caller (routes behind `AuthMiddleware` always have one).
    func caller() throws -> Principal {
        guard let principal else {
            throw APIError(status: .unauthorized, code: "unauthorized", message: "missing Authorization: Bearer token")
        }
        return principal
    }

    var source: String? {
        guard let remoteAddress else { return nil }
        return remoteAddress.ipAddress.map { "\($0):\(remoteAddress.port ?? 0)" }
    }

    final class Exchange: Sendable {
        private let state = Mutex(State())

        struct State: Sendable {
            var audit = AuditNote()
        }

        func withState<T>(_ body: (inout State) -> T) -> T { state.withLock { body(&$0) } }
    }

    /// What a mutating call did, in the audit log's terms (filled by the handler).
    struct AuditNote: Sendable {
        var action: String?
        var agentId: String?
        var requestId: String?
        var tenant: String?
        var argsSHA256: String?
    }

    /// Records what the call is about (the audit middleware writes it with the outcome).
    func note(action: String, agentId: String? = nil, requestId: String? = nil, tenant: String? = nil, args: [UInt8]? = nil) {
        exchange.withState { state in
            state.audit.action = action
            if let agentId { state.audit.agentId = agentId }
            if let requestId { state.audit.requestId = requestId }
            if let tenant { state.audit.tenant = tenant }
            if let args { state.audit.argsSHA256 = KeyRing.digest(String(decoding: args, as: UTF8.self)) }
        }
    }
}
