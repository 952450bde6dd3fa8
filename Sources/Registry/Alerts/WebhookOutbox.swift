#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import FleetProtocol
import Synchronization

/// Notifications waiting for their webhook: in the registry's store when it has one (so they
/// survive a restart), else in memory. Either way at most `limit` per webhook, oldest dropped.
final class WebhookOutbox: Sendable {
    private let store: RegistryStore?
    private let limit: Int
    private let memory = Mutex<(nextId: Int64, queues: [String: [RegistryStore.QueuedNotification]])>((1, [:]))

    init(store: RegistryStore?, limit: Int) {
        self.store = store
        self.limit = limit
    }

    /// - Returns: how many older notifications were dropped to make room.
    func add(_ alert: AlertRecord, to webhook: String, at now: Date) async throws -> Int {
        if let store { return try await store.queueNotification(alert, webhook: webhook, at: now, limit: limit) }
        return memory.withLock { memory in
            memory.queues[webhook, default: []].append(.init(id: memory.nextId, queuedAt: now, alert: alert))
            memory.nextId += 1
            let excess = max(0, (memory.queues[webhook]?.count ?? 0) - limit)
            memory.queues[webhook]?.removeFirst(excess)
            return excess
        }
    }

    func first(for webhook: String) async throws -> RegistryStore.QueuedNotification? {
        if let store { return try await store.firstNotification(webhook: webhook) }
        return memory.withLock { $0.queues[webhook]?.first }
    }

    func remove(_ id: Int64, from webhook: String) async throws {
        if let store { return try await store.removeNotification(id: id) }
        memory.withLock { $0.queues[webhook]?.removeAll { $0.id == id } }
    }

    /// Drops what waits for webhooks not in `webhooks`. - Returns: how many.
    func remove(notFor webhooks: [String]) async throws -> Int {
        if let store { return try await store.removeNotifications(notFor: webhooks) }
        return 0  // memory starts empty
    }
}
