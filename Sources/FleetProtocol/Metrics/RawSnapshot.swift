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
        var vitals = MetricsVitals(cpuPercent: captures.cpuPercent, diskUsedPercent: captures.diskUsedPercent)
        if let total = captures.memoryTotal, let available = captures.memoryAvailable {
            vitals.memoryUsedPercent = total == 0 ? 0 : Double(total - min(available, total)) / Double(total) * 100
        }
        self.captured = vitals
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

    /// What alert rules look at, read from the bytes without decoding them.
    public var vitals: MetricsVitals { captured ?? Self.read(bytes).vitals }

    public static func == (a: RawSnapshot, b: RawSnapshot) -> Bool {
        a.seq == b.seq && a.timestamp == b.timestamp && a.bytes == b.bytes
    }

    /// One walk over the top-level keys of bytes that passed the shape check.
    private static func read(_ bytes: [UInt8]) -> (timestamp: Date?, seq: UInt64?, vitals: MetricsVitals) {
        bytes.withUnsafeBytes { buffer in
            var scanner = JSONScanner(buffer)
            var timestamp: Date?
            var seq: UInt64?
            var vitals = MetricsVitals()
            try? scanner.object(depth: 0) { (inner: inout JSONScanner, key: Range<Int>, escaped: Bool) throws(JSONScanner.Failure) in
                // Keys compared as bytes (the shape check refused escaped known keys' duplicates;
                // an escaped spelling of a known key is read through the slow path below).
                func named(_ name: [UInt8]) -> Bool { escaped ? inner.text(key, escaped: true).utf8.elementsEqual(name) : inner.equals(key, name) }
                inner.skipSpace()
                if named(Keys.timestamp) {
                    let string = try inner.string()
                    timestamp = FleetJSON.parseDate(inner, string.content, escaped: string.escaped)
                } else if named(Keys.seq) {
                    seq = inner.unsigned(try inner.number().range)
                } else if inner.peek == UInt8(ascii: "{"), named(Keys.cpu) {
                    try inner.object(depth: 1) { (cpu: inout JSONScanner, key: Range<Int>, escaped: Bool) throws(JSONScanner.Failure) in
                        let found = try cpu.value(depth: 2)
                        if found.kind == .number, !escaped ? cpu.equals(key, Keys.totalPercent) : cpu.text(key, escaped: true) == "totalPercent" {
                            vitals.cpuPercent = cpu.double(found.range)
                        }
                    }
                } else if inner.peek == UInt8(ascii: "{"), named(Keys.memory) {
                    var total: UInt64?
                    var available: UInt64?
                    try inner.object(depth: 1) { (memory: inout JSONScanner, key: Range<Int>, escaped: Bool) throws(JSONScanner.Failure) in
                        let found = try memory.value(depth: 2)
                        guard found.kind == .number else { return }
                        let name = escaped ? Array(memory.text(key, escaped: true).utf8) : nil
                        if name.map({ $0 == Keys.totalBytes }) ?? memory.equals(key, Keys.totalBytes) {
                            total = memory.unsigned(found.range)
                        } else if name.map({ $0 == Keys.availableBytes }) ?? memory.equals(key, Keys.availableBytes) {
                            available = memory.unsigned(found.range)
                        }
                    }
                    if let total, let available {
                        vitals.memoryUsedPercent = total == 0 ? 0 : Double(total - min(available, total)) / Double(total) * 100
                    }
                } else if inner.peek == UInt8(ascii: "["), named(Keys.filesystems) {
                    try inner.array(depth: 1) { (element: inout JSONScanner) throws(JSONScanner.Failure) in
                        try element.object(depth: 2) { (fs: inout JSONScanner, key: Range<Int>, escaped: Bool) throws(JSONScanner.Failure) in
                            let found = try fs.value(depth: 3)
                            if found.kind == .number, !escaped ? fs.equals(key, Keys.usedPercent) : fs.text(key, escaped: true) == "usedPercent",
                                let used = fs.double(found.range)
                            {
                                vitals.diskUsedPercent = max(vitals.diskUsedPercent ?? used, used)
                            }
                        }
                    }
                } else {
                    try inner.value(depth: 1)
                }
            }
            return (timestamp, seq, vitals)
        }
    }
}

/// The keys ``RawSnapshot`` reads, as bytes.
private enum Keys {
    static let timestamp = Array("timestamp".utf8)
    static let seq = Array("seq".utf8)
    static let cpu = Array("cpu".utf8)
    static let memory = Array("memory".utf8)
    static let filesystems = Array("filesystems".utf8)
    static let totalPercent = Array("totalPercent".utf8)
    static let totalBytes = Array("totalBytes".utf8)
    static let availableBytes = Array("availableBytes".utf8)
    static let usedPercent = Array("usedPercent".utf8)
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
