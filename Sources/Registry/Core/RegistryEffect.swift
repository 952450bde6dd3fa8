#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import FleetProtocol

/// What ``RegistryCore`` decided should happen; ``RegistryService`` carries it out, in order,
/// under the lock that made it (so the outbox stays in sequence order).
public enum RegistryEffect: Sendable {
    /// A numbered change of the replicated state: its body was encoded once, and the same
    /// bytes go to the store and to the Clone PUB.
    case change(RegistryChange)
    /// A command for the gateway holding a session (not part of the replicated state).
    case command(gatewayId: String, GatewayCommand)
    /// The Clone HUGZ beat, carrying the sequence of the last change before it.
    case hugz(seq: UInt64)
    /// One batch of the metrics feed (``MetricsFeed``).
    case metrics(feedSeq: UInt64, entries: ArraySlice<MetricsFeed.Entry>)
    /// A snapshot for the history (the store's `metrics` table).
    case history(agentId: String, RawSnapshot)
    /// An audit line for the store.
    case audit(AuditEntry)
    /// An alert fired or resolved: notify the webhooks.
    case alert(AlertRecord)
}

/// One change of the replicated state: where it is published, and what the store keeps.
public struct RegistryChange: Sendable {
    public var seq: UInt64
    /// The record's JSON (empty for a delete): encoded once, for the PUB and the store.
    public var body: [UInt8]
    public var record: ReplicatedRecord

    /// Where it is published (derived from the record, as the replicas derive it back).
    public var topic: String { record.topic }
    public var op: UpdateHeader.Operation { record.isDelete ? .delete : .upsert }

    /// Whether the change is a request's: those are stored before they are published
    /// (acknowledged means kept).
    public var isRequest: Bool {
        switch record {
        case .request, .requestDeleted: true
        default: false
        }
    }
}
