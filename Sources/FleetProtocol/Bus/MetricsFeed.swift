#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The coalesced metrics feed (issue 13; zguide kvmsg: a binary header, opaque bodies).
///
/// Agent *state* travels the Clone stream, one sequenced update per change. Heartbeats do not
/// change state: they bring a new snapshot and a new "last seen", which the registry keeps
/// per agent and publishes as a batch of the latest entries at most every
/// `replication.metrics_interval`, on topic `metrics`:
///
/// `[metrics][header: epoch (u16 + UTF-8), feed seq (u64), entries (u32)][entries]`, and each
/// entry `[agent id (u16 + UTF-8)][arrived at, ms (i64)][snapshot seq (u64)][taken at, ms
/// (i64)][snapshot bytes (u32 + bytes)]`, little-endian.
///
/// The feed is not part of the Clone sequence: entries are latest-wins by their arrival time,
/// so a batch lost at a PUB high-water mark costs freshness until the agent's next
/// heartbeat, never correctness, and no resync. Its own sequence lets a replica count what it
/// missed (`fleet_replica_metrics_batches_missed_total`). A snapshot (Clone resync) carries the
/// same entries in the same binary form.
public enum MetricsFeed {
    public static let topic = "metrics"

    public struct Entry: Sendable, Equatable {
        public var agentId: String
        /// When the registry received the heartbeat: the agent's "last seen".
        public var at: Date
        public var snapshot: RawSnapshot
        public init(agentId: String, at: Date, snapshot: RawSnapshot) {
            self.agentId = agentId
            self.at = at
            self.snapshot = snapshot
        }
    }

    public struct Header: Sendable, Equatable {
        public var epoch: String
        public var seq: UInt64
        public var count: Int
        public init(epoch: String, seq: UInt64, count: Int) {
            self.epoch = epoch
            self.seq = seq
            self.count = count
        }
    }

    /// Batches are cut at this many bytes of snapshots (and at `maxEntries`), so one message
    /// never holds a large share of a subscriber's queue.
    public static let maxBatchBytes = 256 * 1024
    public static let maxEntries = 512

    public static func encode(header: Header) -> [UInt8] {
        var writer = BinaryWriter(capacity: 32)
        writer.shortString(header.epoch)
        writer.u64(header.seq)
        writer.u32(UInt32(header.count))
        return writer.bytes
    }

    public static func decodeHeader(_ bytes: [UInt8]) throws(ProtocolError) -> Header {
        var reader = BinaryReader(bytes)
        let epoch = try reader.shortString()
        let seq = try reader.u64()
        let count = Int(try reader.u32())
        guard reader.atEnd else { throw .malformed("metrics header of \(bytes.count) bytes has bytes left over") }
        return Header(epoch: epoch, seq: seq, count: count)
    }

    public static func encode(entries: some Collection<Entry>) -> [UInt8] {
        var writer = BinaryWriter(capacity: entries.reduce(0) { $0 + $1.snapshot.bytes.count + $1.agentId.utf8.count + 34 })
        for entry in entries {
            writer.shortString(entry.agentId)
            writer.i64(milliseconds(entry.at))
            writer.u64(entry.snapshot.seq)
            writer.i64(milliseconds(entry.snapshot.timestamp))
            writer.blob(entry.snapshot.bytes)
        }
        return writer.bytes
    }

    public static func decode(entries bytes: [UInt8]) throws(ProtocolError) -> [Entry] {
        var reader = BinaryReader(bytes)
        var entries: [Entry] = []
        while !reader.atEnd {
            let agentId = try reader.shortString()
            let at = date(try reader.i64())
            let seq = try reader.u64()
            let taken = date(try reader.i64())
            let snapshot = try reader.blob()
            entries.append(Entry(agentId: agentId, at: at, snapshot: RawSnapshot(trusted: snapshot, timestamp: taken, seq: seq)))
        }
        return entries
    }

    /// Splits entries into batch bodies under ``maxBatchBytes`` / ``maxEntries``.
    public static func batches(_ entries: [Entry]) -> [ArraySlice<Entry>] {
        var batches: [ArraySlice<Entry>] = []
        var start = 0
        var bytes = 0
        for (index, entry) in entries.enumerated() {
            if index > start, bytes + entry.snapshot.bytes.count > maxBatchBytes || index - start >= maxEntries {
                batches.append(entries[start..<index])
                start = index
                bytes = 0
            }
            bytes += entry.snapshot.bytes.count
        }
        if start < entries.count { batches.append(entries[start...]) }
        return batches
    }

    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    static func date(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }
}
