import FleetProtocol

/// Snapshot chunks bounded in bytes as well as in records.
///
/// Why: the replica waits for each chunk in turn (2 s, doubling after each timeout up to 30 s),
/// so a snapshot's whole deadline already grows with its number of chunks. That only holds if a
/// chunk is small: 500 requests with large results (exec output, up to 16 MiB each) made one
/// chunk of tens of MiB, which no per-chunk wait suits on a slow link, and which can pass the
/// replica's 64 MiB `ZMQ_MAXMSGSIZE` (the connection is dropped, and the resync loops). With
/// chunks of at most `maxBytes` the per-chunk wait asks a fixed minimum speed of the link
/// (2 MiB in 2 s; ~70 KiB/s after the waits have doubled to 30 s), whatever the fleet's size.
enum SnapshotChunking {
    /// Largest encoded chunk, unless one record alone is larger (it then travels alone).
    static let maxBytes = 2 * 1_048_576

    /// `chunk` encoded, split in halves (recursively) while a piece is over `maxBytes`.
    static func encode(_ chunk: SnapshotChunk, maxBytes: Int = maxBytes) throws -> [[UInt8]] {
        let bytes = try FleetJSON.encode(chunk)
        guard bytes.count > maxBytes, count(chunk) > 1 else { return [bytes] }
        let (first, second) = halves(chunk)
        return try encode(first, maxBytes: maxBytes) + encode(second, maxBytes: maxBytes)
    }

    static func count(_ chunk: SnapshotChunk) -> Int {
        chunk.agents.count + chunk.requests.count + chunk.alerts.count + chunk.keys.count + chunk.credentials.count
    }

    /// Each key space's records split at its middle: together, the same records in the same order.
    static func halves(_ chunk: SnapshotChunk) -> (SnapshotChunk, SnapshotChunk) {
        func split<T>(_ records: [T]) -> ([T], [T]) {
            let middle = records.count / 2
            return (Array(records[..<middle]), Array(records[middle...]))
        }
        let agents = split(chunk.agents), requests = split(chunk.requests), alerts = split(chunk.alerts)
        let keys = split(chunk.keys), credentials = split(chunk.credentials)
        return (
            SnapshotChunk(agents: agents.0, requests: requests.0, alerts: alerts.0, keys: keys.0, credentials: credentials.0),
            SnapshotChunk(agents: agents.1, requests: requests.1, alerts: alerts.1, keys: keys.1, credentials: credentials.1)
        )
    }
}
