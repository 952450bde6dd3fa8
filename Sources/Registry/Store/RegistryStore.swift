#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import FleetProtocol
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// The registry's SQLite file (GRDB, WAL mode): agents, metrics history, requests with
/// their results, and state transitions. The in-memory tables stay the hot path; this is
/// where they come back from after a restart and where history lives.
///
/// Records are stored as JSON beside the columns queries need, so adding a field to a
/// record needs no migration.
public final class RegistryStore: Sendable {
    let pool: DatabasePool
    /// Set when the file was found corrupt at open and moved aside (this run started empty).
    public let corrupt: StoreStatus.Corrupt?

    /// Opens (or creates) the store at `path`. A file that is not a sound SQLite database
    /// (`PRAGMA quick_check`) is moved aside to `<path>.corrupt-<UTC time>` with its -wal and
    /// -shm, never deleted, and an empty store takes its place: a registry that cannot start
    /// is worse than one that starts empty, since the gateways re-announce their sessions and
    /// the agents re-enroll and report their state again. Any other error (permissions, I/O)
    /// is thrown: moving the file would not cure it.
    public init(path: String, now: Date = Date()) throws {
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        if FileManager.default.fileExists(atPath: path), let reason = try Self.corruption(at: path) {
            let movedTo = try Self.moveAside(path, now: now)
            corrupt = StoreStatus.Corrupt(movedTo: movedTo, at: now, reason: reason)
        } else {
            corrupt = nil
        }
        var configuration = Configuration()
        configuration.label = "registry-store"
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

    /// What is wrong with the database at `path` (nil when `quick_check` finds it sound).
    static func corruption(at path: String) throws -> String? {
        do {
            // A connection of its own, closed when this returns (before any move).
            let queue = try DatabaseQueue(path: path)
            let findings = try queue.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
            return findings == ["ok"] ? nil : findings.prefix(5).joined(separator: "; ")
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB || error.resultCode == .SQLITE_CORRUPT {
            return error.message ?? "\(error.resultCode)"
        }
    }

    /// Renames `path` (and its -wal and -shm) to `<path>.corrupt-<UTC time>`; returns the new path.
    static func moveAside(_ path: String, now: Date) throws -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0)!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: now)
        func two(_ value: Int?) -> String { value.map { $0 < 10 ? "0\($0)" : "\($0)" } ?? "00" }
        let stamp = "\(c.year ?? 0)\(two(c.month))\(two(c.day))T\(two(c.hour))\(two(c.minute))\(two(c.second))Z"
        var target = "\(path).corrupt-\(stamp)"
        var suffix = 2
        while FileManager.default.fileExists(atPath: target) {
            target = "\(path).corrupt-\(stamp)-\(suffix)"
            suffix += 1
        }
        try FileManager.default.moveItem(atPath: path, toPath: target)
        for companion in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: path + companion) {
            try FileManager.default.moveItem(atPath: path + companion, toPath: target + companion)
        }
        return target
    }

    /// `VACUUM INTO target` from a connection of its own: a consistent copy of the store at
    /// `path` while the registry keeps writing (WAL lets readers and one writer run together).
    /// `target` must not exist; it is created 0600 (the store holds credential digests).
    public static func backup(storeAt path: String, to target: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw BackupError("no store at \(path)") }
        // O_EXCL: refuses an existing file (or link) atomically. SQLite writes into the empty
        // file it finds and keeps its mode.
        let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let reason = errno == EEXIST ? "it exists (a backup never overwrites)" : String(cString: strerror(errno))
            throw BackupError("cannot create \(target): \(reason)")
        }
        close(fd)
        do {
            var configuration = Configuration()
            configuration.readonly = true
            configuration.label = "registry-backup"
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            try queue.inDatabase { db in try db.execute(sql: "VACUUM INTO ?", arguments: [target]) }
        } catch {
            // Only the file this call created, and only when it failed: no half backup is left to trust.
            unlink(target)
            throw BackupError("backup of \(path) failed: \(error)")
        }
    }

    public struct BackupError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE agent (
                    id TEXT PRIMARY KEY NOT NULL,
                    state TEXT NOT NULL,
                    record TEXT NOT NULL,
                    updated_at REAL NOT NULL
                );
                CREATE TABLE metrics (
                    agent_id TEXT NOT NULL,
                    taken_at REAL NOT NULL,
                    seq INTEGER NOT NULL,
                    snapshot TEXT NOT NULL,
                    PRIMARY KEY (agent_id, seq, taken_at)
                );
                CREATE INDEX metrics_by_time ON metrics(agent_id, taken_at);
                CREATE TABLE request (
                    id TEXT PRIMARY KEY NOT NULL,
                    agent_id TEXT NOT NULL,
                    state TEXT NOT NULL,
                    record TEXT NOT NULL,
                    completed_at REAL
                );
                CREATE INDEX request_by_agent ON request(agent_id);
                CREATE TABLE transition (
                    agent_id TEXT NOT NULL,
                    at REAL NOT NULL,
                    state TEXT NOT NULL,
                    reason TEXT
                );
                CREATE INDEX transition_by_agent ON transition(agent_id, at);
                """)
        }
        migrator.registerMigration("v2-content") { db in
            try db.execute(sql: "CREATE TABLE content (request_id TEXT NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (request_id, idx))")
        }
        migrator.registerMigration("v3-alerts") { db in
            try db.execute(sql: "CREATE TABLE alert (id TEXT PRIMARY KEY NOT NULL, record TEXT NOT NULL)")
        }
        migrator.registerMigration("v4-access") { db in
            // The audit table is append-only: rows are never changed, and only the retention
            // prune deletes (rows older than audit.retention).
            try db.execute(sql: """
                CREATE TABLE credential (agent_id TEXT PRIMARY KEY NOT NULL, record TEXT NOT NULL);
                CREATE TABLE api_key (id TEXT PRIMARY KEY NOT NULL, record TEXT NOT NULL);
                CREATE TABLE audit (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at REAL NOT NULL,
                    tenant TEXT,
                    agent_id TEXT,
                    entry TEXT NOT NULL
                );
                CREATE INDEX audit_by_time ON audit(at);
                CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit
                BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                """)
        }
        registerQueueMigrations(&migrator)
        migrator.registerMigration("v5-metrics-one-index") { db in
            // One index instead of two (the primary key and metrics_by_time): the unique index
            // serves both the dedupe of replayed samples (same agent, time and seq) and the
            // time-range reads, so each heartbeat's row updates two B-trees, not three.
            try db.execute(sql: """
                CREATE TABLE metrics_v6 (agent_id TEXT NOT NULL, taken_at REAL NOT NULL, seq INTEGER NOT NULL, snapshot TEXT NOT NULL);
                INSERT INTO metrics_v6 (agent_id, taken_at, seq, snapshot) SELECT agent_id, taken_at, seq, snapshot FROM metrics;
                DROP TABLE metrics;
                ALTER TABLE metrics_v6 RENAME TO metrics;
                CREATE UNIQUE INDEX metrics_by_time ON metrics(agent_id, taken_at, seq);
                """)
        }
        return migrator
    }

    // MARK: Access (credentials, keys) and the audit log

    public func loadCredentials() throws -> [AgentCredential] {
        try pool.read { db in
            try String.fetchAll(db, sql: "SELECT record FROM credential").compactMap { try? FleetJSON.decode(AgentCredential.self, from: $0) }
        }
    }

    public func loadKeys() throws -> [APIKeyRecord] {
        try pool.read { db in
            try String.fetchAll(db, sql: "SELECT record FROM api_key").compactMap { try? FleetJSON.decode(APIKeyRecord.self, from: $0) }
        }
    }

    /// Audit lines, newest first: only `tenant`'s when given (lines without a tenant —
    /// key management by an all-tenant key — are shown to all-tenant keys only).
    public func audit(tenant: String?, agentId: String?, since: Date?, limit: Int) async throws -> [AuditEntry] {
        try await pool.read { db in
            var sql = "SELECT id, entry FROM audit WHERE at >= ?"
            var arguments: StatementArguments = [(since ?? .distantPast).timeIntervalSince1970]
            if let tenant {
                sql += " AND tenant = ?"
                _ = arguments.append(contentsOf: [tenant])
            }
            if let agentId {
                sql += " AND agent_id = ?"
                _ = arguments.append(contentsOf: [agentId])
            }
            sql += " ORDER BY id DESC LIMIT ?"
            _ = arguments.append(contentsOf: [limit])
            return try Row.fetchAll(db, sql: sql, arguments: arguments).compactMap { row -> AuditEntry? in
                guard var entry = try? FleetJSON.decode(AuditEntry.self, from: row["entry"] as String) else { return nil }
                entry.id = row["id"]
                return entry
            }
        }
    }

    /// Deletes audit lines older than `cutoff`; returns how many.
    @discardableResult
    public func pruneAudit(olderThan cutoff: Date) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM audit WHERE at < ?", arguments: [cutoff.timeIntervalSince1970])
            return db.changesCount
        }
    }

    public func loadAlerts() throws -> [AlertRecord] {
        try pool.read { db in
            try String.fetchAll(db, sql: "SELECT record FROM alert").compactMap { try? FleetJSON.decode(AlertRecord.self, from: $0) }
        }
    }

    // MARK: File contents (logs uploads), chunk by chunk

    // Chunks arrive per upload attempt (RegistryStore+Queues.swift) and land here once complete.

    public func chunk(requestId: String, index: Int) async throws -> [UInt8]? {
        try await pool.read { db in
            try Data.fetchOne(db, sql: "SELECT data FROM content WHERE request_id = ? AND idx = ?", arguments: [requestId, index]).map { Array($0) }
        }
    }

    // MARK: Loading at start

    public func loadAgents() throws -> [AgentRecord] {
        try pool.read { db in
            try String.fetchAll(db, sql: "SELECT record FROM agent").compactMap { try? FleetJSON.decode(AgentRecord.self, from: $0) }
        }
    }

    /// Each agent's newest stored snapshot (by sample time), as its bytes, with that time
    /// standing for when it arrived (the gateway bounds it by its clock-skew limit).
    public func loadLatestMetrics() throws -> [String: AgentTable.LatestMetrics] {
        try pool.read { db in
            // SQLite: with MAX(), the bare columns come from the row holding the maximum.
            let rows = try Row.fetchAll(db, sql: "SELECT agent_id, MAX(taken_at) AS taken_at, seq, snapshot FROM metrics GROUP BY agent_id")
            var latest: [String: AgentTable.LatestMetrics] = [:]
            for row in rows {
                let agentId: String = row["agent_id"]
                let text: String = row["snapshot"]
                let bytes = Array(text.utf8)
                guard let snapshot = try? RawSnapshot(validating: bytes) else { continue }
                latest[agentId] = AgentTable.LatestMetrics(snapshot: snapshot, vitals: snapshot.vitals, at: snapshot.timestamp)
            }
            return latest
        }
    }

    /// Unfinished requests, and finished ones newer than `finishedSince`.
    public func loadRequests(finishedSince: Date) throws -> [RequestRecord] {
        try pool.read { db in
            try String.fetchAll(
                db, sql: "SELECT record FROM request WHERE completed_at IS NULL OR completed_at >= ?",
                arguments: [finishedSince.timeIntervalSince1970]
            ).compactMap { try? FleetJSON.decode(RequestRecord.self, from: $0) }
        }
    }

    // MARK: History

    /// Snapshots of `agentId` taken at or after `since`, oldest first, at most `limit`.
    public func metrics(agentId: String, since: Date?, limit: Int) async throws -> [MetricsSnapshot] {
        try await pool.read { db in
            try String.fetchAll(
                db,
                sql: "SELECT snapshot FROM metrics WHERE agent_id = ? AND taken_at >= ? ORDER BY taken_at LIMIT ?",
                arguments: [agentId, (since ?? .distantPast).timeIntervalSince1970, limit]
            ).compactMap { try? FleetJSON.decode(MetricsSnapshot.self, from: $0) }
        }
    }

    public struct Transition: Codable, Sendable, Equatable {
        public var at: Date
        public var state: AgentState
        public var reason: String?
    }

    public func transitions(agentId: String, limit: Int) async throws -> [Transition] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT at, state, reason FROM transition WHERE agent_id = ? ORDER BY at DESC LIMIT ?",
                arguments: [agentId, limit]
            ).compactMap { row in
                guard let state = AgentState(rawValue: row["state"]) else { return nil }
                return Transition(at: Date(timeIntervalSince1970: row["at"]), state: state, reason: row["reason"])
            }
        }
    }

    // MARK: Writing (from StoreWriter, in batches)

    func write(_ batch: StoreBatch) async throws {
        try await pool.write { db in
            // Deletes first: an upsert beside a delete of the same key came after it (StoreBatch).
            for id in batch.deletedAgents {
                try db.execute(sql: "DELETE FROM agent WHERE id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM metrics WHERE agent_id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM transition WHERE agent_id = ?", arguments: [id])
            }
            for id in batch.deletedRequests {
                try db.execute(sql: "DELETE FROM request WHERE id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM content WHERE request_id = ?", arguments: [id])
            }
            for id in batch.deletedAlerts {
                try db.execute(sql: "DELETE FROM alert WHERE id = ?", arguments: [id])
            }
            for (id, stored) in batch.agents {
                try db.execute(
                    sql: """
                        INSERT INTO agent (id, state, record, updated_at) VALUES (?, ?, ?, ?)
                        ON CONFLICT(id) DO UPDATE SET state = excluded.state, record = excluded.record, updated_at = excluded.updated_at
                        """,
                    arguments: [id, stored.record.state.rawValue, stored.text, stored.record.lastSeen.timeIntervalSince1970]
                )
            }
            // The agent's bytes as they came (checked by the gateway): no encoding here.
            let insertMetrics = try db.cachedStatement(sql: "INSERT OR IGNORE INTO metrics (agent_id, taken_at, seq, snapshot) VALUES (?, ?, ?, ?)")
            for (agentId, snapshot) in batch.metrics {
                try insertMetrics.execute(arguments: [
                    agentId, snapshot.timestamp.timeIntervalSince1970, Int64(bitPattern: snapshot.seq), String(decoding: snapshot.bytes, as: UTF8.self),
                ])
            }
            for (id, stored) in batch.requests {
                try db.execute(
                    sql: """
                        INSERT INTO request (id, agent_id, state, record, completed_at) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT(id) DO UPDATE SET state = excluded.state, record = excluded.record, completed_at = excluded.completed_at
                        """,
                    arguments: [id, stored.record.agentId, stored.record.state.rawValue, stored.text, stored.record.completedAt?.timeIntervalSince1970]
                )
            }
            for (id, stored) in batch.alerts {
                try db.execute(
                    sql: "INSERT INTO alert (id, record) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET record = excluded.record",
                    arguments: [id, stored.text]
                )
            }
            for (agentId, stored) in batch.credentials {
                try db.execute(
                    sql: "INSERT INTO credential (agent_id, record) VALUES (?, ?) ON CONFLICT(agent_id) DO UPDATE SET record = excluded.record",
                    arguments: [agentId, stored.text]
                )
            }
            for (id, stored) in batch.keys {
                try db.execute(
                    sql: "INSERT INTO api_key (id, record) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET record = excluded.record",
                    arguments: [id, stored.text]
                )
            }
            for entry in batch.audit {
                try db.execute(
                    sql: "INSERT INTO audit (at, tenant, agent_id, entry) VALUES (?, ?, ?, ?)",
                    arguments: [entry.at.timeIntervalSince1970, entry.tenant, entry.agentId, try FleetJSON.encodeString(entry)]
                )
            }
            for transition in batch.transitions {
                try db.execute(
                    sql: "INSERT INTO transition (agent_id, at, state, reason) VALUES (?, ?, ?, ?)",
                    arguments: [transition.agentId, transition.at.timeIntervalSince1970, transition.state.rawValue, transition.reason]
                )
            }
        }
    }

    /// Deletes metrics and transitions older than `cutoff`; returns the metrics rows removed.
    @discardableResult
    public func prune(olderThan cutoff: Date) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM metrics WHERE taken_at < ?", arguments: [cutoff.timeIntervalSince1970])
            let removed = db.changesCount
            try db.execute(sql: "DELETE FROM transition WHERE at < ?", arguments: [cutoff.timeIntervalSince1970])
            return removed
        }
    }
}
