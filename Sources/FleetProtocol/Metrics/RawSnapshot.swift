#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A metrics snapshot as the agent sent it: its own JSON bytes, checked once against
/// ``MetricsSnapshot/shape`` by the gateway, with the few fields the path needs read out.
///
/// The heartbeat path carries these bytes unchanged from the agent's frame to the bus, the
/// registry's store and every gateway's replica (issue 13: each Codable pass it replaced cost
/// more than the whole heartbeat may). Whoever needs the values (the API, the event stream,
/// `/metrics/fleet`) decodes them with ``decoded()``, which cannot fail on bytes that passed
/// the shape check.
public struct RawSnapshot: Sendable, Equatable {
    public let bytes: [UInt8]
    /// The sample's time (the agent's clock, within the gateway's skew bound).
    public let timestamp: Date
    /// The agent's sample counter.
    public let seq: UInt64

    /// The vitals, when the shape check captured them on the way (else read on demand).
    private let captured: MetricsVitals?

    /// Checks `bytes` against the snapshot's shape and reads its time, counter and vitals in
    /// the same pass.
    public init(validating bytes: [UInt8]) throws(ProtocolError) {
        let captures = try MetricsSnapshot.shape.validate(bytes)
        guard let snapshot = RawSnapshot(bytes, captures: captures) else {
            throw .malformed("snapshot without timestamp or seq")  // unreachable: the shape requires both
        }
        self = snapshot
    }

    /// Bytes that just passed the shape check, with what it captured.
    init?(_ bytes: [UInt8], captures: JSONCaptures) {
        guard let timestamp = captures.timestamp, let seq = captures.seq else { return nil }
        self.bytes = bytes
        self.timestamp = timestamp
        self.seq = seq
        self.captured = MetricsVitals(captures)
    }

    /// Bytes that were checked before (by a gateway, or stored by the registry).
    public init(trusted bytes: [UInt8], timestamp: Date, seq: UInt64) {
        self.bytes = bytes
        self.timestamp = timestamp
        self.seq = seq
        self.captured = nil
    }

    /// Encodes a decoded snapshot (hello frames, replayed samples, a clamped time).
    public init(_ snapshot: MetricsSnapshot) throws {
        self.bytes = try FleetJSON.encode(snapshot)
        self.timestamp = FleetJSON.milliseconds(snapshot.timestamp)
        self.seq = snapshot.seq
        self.captured = MetricsVitals(snapshot)
    }

    /// The values (a Codable pass: for readers, not for the heartbeat path).
    public func decoded() throws -> MetricsSnapshot {
        try FleetJSON.decode(MetricsSnapshot.self, from: bytes)
    }

    /// What alert rules look at, read from the bytes without decoding them: captured by the
    /// shape check that admitted them, or (bytes loaded from the store) by checking them again.
    public var vitals: MetricsVitals {
        captured ?? (try? MetricsSnapshot.shape.validate(bytes)).map(MetricsVitals.init) ?? MetricsVitals()
    }

    public static func == (a: RawSnapshot, b: RawSnapshot) -> Bool {
        a.seq == b.seq && a.timestamp == b.timestamp && a.bytes == b.bytes
    }
}

/// The values alert rules test, carried next to the snapshot's bytes so the registry never
/// decodes a snapshot (``AlertRule``: cpu, memory, disk).
public struct MetricsVitals: Sendable, Equatable {
    /// Busy share of all cores, 0...100.
    public var cpuPercent: Double?
    public var memoryUsedPercent: Double?
    /// The fullest filesystem's used share.
    public var diskUsedPercent: Double?

    public init(cpuPercent: Double? = nil, memoryUsedPercent: Double? = nil, diskUsedPercent: Double? = nil) {
        self.cpuPercent = cpuPercent
        self.memoryUsedPercent = memoryUsedPercent
        self.diskUsedPercent = diskUsedPercent
    }

    public init(_ snapshot: MetricsSnapshot) {
        self.init(
            cpuPercent: snapshot.cpu?.totalPercent, memoryUsedPercent: snapshot.memory?.usedPercent,
            diskUsedPercent: snapshot.filesystems?.map(\.usedPercent).max()
        )
    }

    /// What a shape check captured (``MetricsSnapshot/shape`` tags the fields).
    public init(_ captures: JSONCaptures) {
        self.init(cpuPercent: captures.cpuPercent, diskUsedPercent: captures.diskUsedPercent)
        if let total = captures.memoryTotal, let available = captures.memoryAvailable {
            memoryUsedPercent = MemoryMetrics.usedPercent(totalBytes: total, availableBytes: available)
        }
    }
}

extension MetricsSnapshot {
    /// What the synthesized `Decodable` init requires (see ``JSONShape``); kept next to the
    /// types it describes, and checked against them by the decoder property tests.
    public static let shape: JSONShape = .object([
        JSONField("timestamp", .date, capture: .timestamp),
        JSONField("seq", .unsigned, capture: .seq),
        .optional("cpu", .object([
            JSONField("totalPercent", .number, capture: .cpuPercent),
            JSONField("perCorePercent", .array(.number)),
            .optional("load1", .number), .optional("load5", .number), .optional("load15", .number),
        ])),
        .optional("memory", .object([
            JSONField("totalBytes", .unsigned, capture: .memoryTotal), JSONField("availableBytes", .unsigned, capture: .memoryAvailable),
            JSONField("usedBytes", .unsigned), JSONField("swapTotalBytes", .unsigned), JSONField("swapFreeBytes", .unsigned),
        ])),
        .optional("filesystems", .array(.object([
            JSONField("mountPoint", .string), JSONField("device", .string), JSONField("fsType", .string),
            JSONField("totalBytes", .unsigned), JSONField("freeBytes", .unsigned), JSONField("availableBytes", .unsigned),
            JSONField("usedPercent", .number, capture: .diskUsedPercent),
        ]))),
        .optional("network", .array(.object([
            JSONField("name", .string),
            JSONField("rxBytes", .unsigned), JSONField("txBytes", .unsigned), JSONField("rxPackets", .unsigned),
            JSONField("txPackets", .unsigned), JSONField("rxErrors", .unsigned), JSONField("txErrors", .unsigned),
            JSONField("rxDrops", .unsigned), JSONField("txDrops", .unsigned),
            .optional("rxBytesPerSecond", .number), .optional("txBytesPerSecond", .number),
        ]))),
        .optional("uptimeSeconds", .number),
        .optional("bootTime", .date),
        .optional("agentRSSBytes", .unsigned),
    ])
}
