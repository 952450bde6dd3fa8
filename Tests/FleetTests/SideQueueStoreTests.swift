import FleetProtocol
import Foundation
@testable import Registry
import Testing

/// The registry's side queues in its SQLite store, on a real file: the webhook outbox's bound
/// (oldest dropped), and upload parts kept per attempt and expired when an attempt went silent.
@Suite("Side queues in the store", .serialized)
struct SideQueueStoreTests {
    func store() throws -> (RegistryStore, URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sidequeues-\(UUID().uuidString)")
        return (try RegistryStore(path: directory.appendingPathComponent("registry.sqlite").path), directory)
    }

    func alert(_ index: Int) -> AlertRecord {
        AlertRecord(
            id: "rule:a\(index)", rule: "rule", kind: .offline, agentId: "a\(index)", hostname: "h", state: .firing,
            firedAt: Date(timeIntervalSince1970: 0), value: nil, message: "down"
        )
    }

    @Test("the outbox keeps the newest `limit` per webhook, drops the oldest and says how many; other webhooks untouched")
    func outboxBound() async throws {
        let (store, directory) = try store()
        defer { try? FileManager.default.removeItem(at: directory) }
        for outbox in [WebhookOutbox(store: store, limit: 3), WebhookOutbox(store: nil, limit: 3)] {
            var dropped: [Int] = []
            for index in 0..<5 { dropped.append(try await outbox.add(alert(index), to: "http://one", at: Date())) }
            _ = try await outbox.add(alert(9), to: "http://two", at: Date())
            #expect(dropped == [0, 0, 0, 1, 1])
            var delivered: [String] = []
            while let next = try await outbox.first(for: "http://one") {
                delivered.append(next.alert.agentId)
                try await outbox.remove(next.id, from: "http://one")
            }
            #expect(delivered == ["a2", "a3", "a4"], "oldest first, the two oldest dropped")
            #expect(try await outbox.first(for: "http://two")?.alert.agentId == "a9")
            try await outbox.remove(try #require(try await outbox.first(for: "http://two")).id, from: "http://two")
        }
        // A store reopened (a registry restart) still has what was queued.
        let outbox = WebhookOutbox(store: store, limit: 3)
        _ = try await outbox.add(alert(7), to: "http://one", at: Date())
        let reopened = WebhookOutbox(store: try RegistryStore(path: directory.appendingPathComponent("registry.sqlite").path), limit: 3)
        #expect(try await reopened.first(for: "http://one")?.alert.agentId == "a7")
        #expect(try await reopened.remove(notFor: ["http://two"]) == 1, "queued for a webhook no longer configured: removed")
    }

    @Test("upload parts: an attempt's abort leaves the other attempt's parts; settle makes one attempt the content; silent attempts expire")
    func uploadParts() async throws {
        let (store, directory) = try store()
        defer { try? FileManager.default.removeItem(at: directory) }
        let old = Date(timeIntervalSinceNow: -7200)
        try await store.writePart(requestId: "r", upload: "a", index: 0, bytes: [1], at: Date())
        try await store.writePart(requestId: "r", upload: "b", index: 0, bytes: [2], at: Date())
        try await store.writePart(requestId: "r", upload: "b", index: 1, bytes: [3], at: Date())
        try await store.dropUpload(requestId: "r", upload: "a")
        #expect(try await store.partCount(requestId: "r", upload: "b", below: 2) == 2)
        #expect(try await store.settleUpload(requestId: "r", upload: "b", count: 3) == false, "incomplete: nothing changes")
        #expect(try await store.settleUpload(requestId: "r", upload: "b", count: 2))
        #expect(try await store.chunk(requestId: "r", index: 0) == [2])
        #expect(try await store.chunk(requestId: "r", index: 1) == [3])
        #expect(try await store.partCount(requestId: "r", upload: "b", below: 2) == 0, "parts moved, not copied and kept")

        try await store.writePart(requestId: "s", upload: "silent", index: 0, bytes: [4], at: old)
        try await store.writePart(requestId: "s", upload: "slow", index: 0, bytes: [5], at: old)
        try await store.writePart(requestId: "s", upload: "slow", index: 1, bytes: [6], at: Date())
        #expect(try await store.expireParts(olderThan: Date(timeIntervalSinceNow: -3600)) == 1, "only the silent attempt's part")
        #expect(try await store.partCount(requestId: "s", upload: "slow", below: 2) == 2, "a slow attempt still sending keeps its old parts")
    }
}
