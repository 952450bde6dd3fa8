#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import FleetProtocol
import Metrics
import Synchronization

/// One agent's latest snapshot in a replica: the agent's bytes as they came, decoded the
/// first time a reader asks (the API, the event stream, `/metrics/fleet`) and kept, so a
/// replica applies a heartbeat without a JSON pass and each snapshot is decoded at most once.
public final class MetricsEntry: Sendable {
    public let snapshot: RawSnapshot
    /// When the registry received it: the agent's "last seen".
    public let at: Date
    private let cache = Mutex<MetricsSnapshot??>(nil)

    public init(snapshot: RawSnapshot, at: Date) {
        self.snapshot = snapshot
        self.at = at
    }

    convenience init(_ entry: MetricsFeed.Entry) {
        self.init(snapshot: entry.snapshot, at: entry.at)
    }

    /// The values; nil only for bytes that would not decode (never for bytes a gateway
    /// checked: counted in `fleet_replica_snapshots_undecodable_total` if it happens).
    public var decoded: MetricsSnapshot? {
        if let cached = cache.withLock({ $0 }) { return cached }
        let value = try? snapshot.decoded()
        if value == nil { Self.undecodable.increment() }
        cache.withLock { $0 = .some(value) }
        return value
    }

    private static let undecodable = Counter(label: "fleet_replica_snapshots_undecodable_total")

    /// `record` as the API shows it: with these metrics and this arrival as its last sign of life.
    public func merged(into record: AgentRecord) -> AgentRecord {
        var merged = record
        merged.metrics = decoded
        if at > merged.lastSeen { merged.lastSeen = at }
        return merged
    }
}
