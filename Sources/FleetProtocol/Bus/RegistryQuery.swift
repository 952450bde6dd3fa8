#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Queries a gateway sends the registry over DEALER/ROUTER (the `snapshot` socket) for what
/// is not replicated: history. Wire: `[query][nonce][kind][JSON]` -> `[query][nonce][ok|error][JSON]`.
public enum RegistryQuery {
    public static let frame = "query"

    /// Metrics history of one agent: reply is `[MetricsSnapshot]`, oldest first.
    public struct Metrics: Codable, Sendable, Equatable {
        public static let kind = "metrics"
        public var agentId: String
        public var since: Date?
        public var limit: Int
        public init(agentId: String, since: Date?, limit: Int) {
            self.agentId = agentId
            self.since = since
            self.limit = limit
        }
    }
}

extension RegistryQuery {
    /// The audit log, newest first: reply is `[AuditEntry]`.
    public struct Audit: Codable, Sendable, Equatable {
        public static let kind = "audit"
        /// Only this tenant's entries (nil = all: a key for every tenant).
        public var tenant: String?
        public var agentId: String?
        public var since: Date?
        public var limit: Int
        public init(tenant: String?, agentId: String?, since: Date?, limit: Int) {
            self.tenant = tenant
            self.agentId = agentId
            self.since = since
            self.limit = limit
        }
    }
}

extension RegistryQuery {
    /// The bus peers the registry hears from: reply is `BusPeers`.
    public struct Peers: Codable, Sendable, Equatable {
        public static let kind = "peers"
        public init() {}
    }
}

extension RegistryQuery {
    /// A gateway's liveness beat (Paranoid Pirate, both ways): every second over the
    /// DEALER/ROUTER pair, so it never queues behind data on `events` (under overload the
    /// events queue held beats long enough for the registry to declare live gateways lost;
    /// issue 13). The body is a `BusEvent.GatewayHeartbeat`; the reply is empty, and tells
    /// the gateway the registry is alive.
    public enum GatewayBeat {
        public static let kind = "gateway.beat"
    }
}

/// Gateways and callback-workers alive on the bus, as the registry sees them.
public struct BusPeers: Codable, Sendable, Equatable {
    public struct Peer: Codable, Sendable, Equatable {
        public var id: String
        public var secondsSinceHeard: Double
        /// Gateways: live agent sessions. Workers: jobs done.
        public var count: UInt64
        public init(id: String, secondsSinceHeard: Double, count: UInt64) {
            self.id = id
            self.secondsSinceHeard = secondsSinceHeard
            self.count = count
        }
    }

    public var gateways: [Peer]
    public var workers: [Peer]
    /// The registry's store (nil when it runs without one).
    public var store: StoreStatus?
    public init(gateways: [Peer], workers: [Peer], store: StoreStatus? = nil) {
        self.gateways = gateways
        self.workers = workers
        self.store = store
    }
}

/// A query the registry could not answer.
public struct QueryError: Error, Codable, Sendable, Equatable {
    public var code: String
    public var message: String
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}
