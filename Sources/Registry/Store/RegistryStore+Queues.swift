#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import FleetProtocol
import GRDB

/// The registry's side queues in its SQLite file: the webhook outbox (alerts not yet
/// delivered, so a restart does not lose them) and the parts of uploads in progress, kept per
/// upload attempt (so an aborted attempt removes its own parts and nobody else's).
extension RegistryStore {
    /// Registered after the core tables' migrations; names of their own so they never clash.
    static func registerQueueMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("queues-1-webhook-outbox") { db in
            try db.execute(sql: """
                CREATE TABLE webhook_outbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    webhook TEXT NOT NULL,
                    queued_at REAL NOT NULL,
                    alert TEXT NOT NULL
                );
                CREATE INDEX webhook_outbox_by_webhook ON webhook_outbox(webhook, id);
                """)
        }
        migrator.registerMigration("queues-2-upload-parts") { db in
            try db.execute(sql: """
                CREATE TABLE content_part (
                    request_id TEXT NOT NULL,
                    upload_id TEXT NOT NULL,
                    idx INTEGER NOT NULL,
                    received_at REAL NOT NULL,
                    data BLOB NOT NULL,
                    PRIMARY KEY (request_id, upload_id, idx)
                );
                CREATE INDEX content_part_by_time ON content_part(received_at);
                """)
        }
    }

    // MARK: Webhook outbox

    /// One notification waiting for its webhook.
    struct QueuedNotification: Sendable, Equatable {
        var id: Int64
        var queuedAt: Date
        var alert: AlertRecord
    }

    /// Queues `alert` for `webhook`; past `limit` queued for it the oldest are removed.
    /// - Returns: how many were removed to make room.
    func queueNotification(_ alert: AlertRecord, webhook: String, at now: Date, limit: Int) async throws -> Int {
        let json = try FleetJSON.encodeString(alert)
        return try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO webhook_outbox (webhook, queued_at, alert) VALUES (?, ?, ?)",
                arguments: [webhook, now.timeIntervalSince1970, json]
            )
            let queued = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM webhook_outbox WHERE webhook = ?", arguments: [webhook]) ?? 0
            guard queued > limit else { return 0 }
            try db.execute(
                sql: "DELETE FROM webhook_outbox WHERE id IN (SELECT id FROM webhook_outbox WHERE webhook = ? ORDER BY id LIMIT ?)",
                arguments: [webhook, queued - limit]
            )
            return queued - limit
        }
    }

    /// The oldest notification queued for `webhook`, if any.
    func firstNotification(webhook: String) async throws -> QueuedNotification? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(
                db, sql: "SELECT id, queued_at, alert FROM webhook_outbox WHERE webhook = ? ORDER BY id LIMIT 1", arguments: [webhook]
            ) else { return nil }
            let text: String = row["alert"]
            return QueuedNotification(
                id: row["id"], queuedAt: Date(timeIntervalSince1970: row["queued_at"]), alert: try FleetJSON.decode(AlertRecord.self, from: text)
            )
        }
    }

    func removeNotification(id: Int64) async throws {
        try await pool.write { db in try db.execute(sql: "DELETE FROM webhook_outbox WHERE id = ?", arguments: [id]) }
    }

    /// Removes what is queued for webhooks no longer configured. - Returns: rows removed.
    func removeNotifications(notFor webhooks: [String]) async throws -> Int {
        try await pool.write { db in
            let marks = webhooks.map { _ in "?" }.joined(separator: ", ")
            let filter = webhooks.isEmpty ? "" : " WHERE webhook NOT IN (\(marks))"
            try db.execute(sql: "DELETE FROM webhook_outbox" + filter, arguments: StatementArguments(webhooks))
            return db.changesCount
        }
    }

    // MARK: Upload parts, per attempt

    func writePart(requestId: String, upload: String, index: Int, bytes: [UInt8], at now: Date) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO content_part (request_id, upload_id, idx, received_at, data) VALUES (?, ?, ?, ?, ?)",
                arguments: [requestId, upload, index, now.timeIntervalSince1970, Data(bytes)]
            )
        }
    }

    /// Parts of one attempt stored so far with index below `count`.
    func partCount(requestId: String, upload: String, below count: Int) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM content_part WHERE request_id = ? AND upload_id = ? AND idx < ?",
                arguments: [requestId, upload, count]
            ) ?? 0
        }
    }

    /// Makes one complete attempt the request's content, in one transaction: the request's
    /// earlier content goes, the attempt's parts become its chunks.
    /// - Returns: false (and changes nothing) if the attempt does not have all `count` parts.
    func settleUpload(requestId: String, upload: String, count: Int) async throws -> Bool {
        try await pool.write { db in
            let have = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM content_part WHERE request_id = ? AND upload_id = ? AND idx < ?",
                arguments: [requestId, upload, count]
            ) ?? 0
            guard have == count else { return false }
            try db.execute(sql: "DELETE FROM content WHERE request_id = ?", arguments: [requestId])
            try db.execute(
                sql: """
                    INSERT INTO content (request_id, idx, data)
                    SELECT request_id, idx, data FROM content_part WHERE request_id = ? AND upload_id = ? AND idx < ?
                    """,
                arguments: [requestId, upload, count]
            )
            try db.execute(sql: "DELETE FROM content_part WHERE request_id = ? AND upload_id = ?", arguments: [requestId, upload])
            return true
        }
    }

    /// Removes one attempt's parts (aborted, or not needed), never another attempt's.
    func dropUpload(requestId: String, upload: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM content_part WHERE request_id = ? AND upload_id = ?", arguments: [requestId, upload])
        }
    }

    /// Removes the parts of attempts that got no part since `cutoff` (never finished nor
    /// aborted: a gateway that died mid-upload). A slow attempt still sending keeps all of its
    /// parts. - Returns: rows removed.
    func expireParts(olderThan cutoff: Date) async throws -> Int {
        try await pool.write { db in
            try db.execute(
                sql: """
                    DELETE FROM content_part WHERE (request_id, upload_id) IN (
                        SELECT request_id, upload_id FROM content_part GROUP BY request_id, upload_id HAVING MAX(received_at) < ?
                    )
                    """,
                arguments: [cutoff.timeIntervalSince1970]
            )
            return db.changesCount
        }
    }
}
