import FleetProtocol
import Foundation

/// What a simulated agent says, encoded once: a realistic snapshot (8 cores, 3 filesystems,
/// 2 interfaces, about 1.2 KB of JSON, like the real agent's) with its `seq` and `timestamp`
/// spliced in per frame, so thousands of agents cost the bench almost nothing to speak.
struct Payload: Sendable {
    private let heartbeatTemplate: Template
    private let snapshotTemplate: Template
    let snapshotBytes: Int

    init() throws {
        let sentinelSeq: UInt64 = 987_654_321_987
        let sentinelDate = Date(timeIntervalSince1970: 1_000_000_000.123)
        let snapshot = Self.snapshot(seq: sentinelSeq, timestamp: sentinelDate)
        let heartbeat = try FleetJSON.encodeString(AgentMessage.heartbeat(.init(metrics: snapshot)))
        let bare = try FleetJSON.encodeString(snapshot)
        heartbeatTemplate = try Self.split(heartbeat, seq: String(sentinelSeq), date: FleetJSON.format(sentinelDate))
        snapshotTemplate = try Self.split(bare, seq: String(sentinelSeq), date: FleetJSON.format(sentinelDate))
        snapshotBytes = bare.utf8.count
    }

    func heartbeat(seq: UInt64, at date: Date) -> String {
        heartbeatTemplate.render(seq: seq, date: date)
    }

    /// `{"ok":true,"result":<snapshot>}`: the reply to a status request.
    func statusReply(seq: UInt64, at date: Date) -> String {
        #"{"ok":true,"result":"# + snapshotTemplate.render(seq: seq, date: date) + "}"
    }

    func hello(id: String, index: Int) throws -> String {
        let info = AgentInfo(
            id: id, hostname: "sim-\(id)",
            os: OSInfo(name: "Debian GNU/Linux", version: "12", kernel: "6.1.0-bench", arch: "x86_64"),
            agentVersion: "bench", labels: ["bench": "true", "rack": "r\(index % 16)"]
        )
        return try FleetJSON.encodeString(AgentMessage.hello(.init(agent: info)))
    }

    /// A frame cut around its `seq` and `timestamp` values, in whichever order the encoder wrote them.
    struct Template: Sendable {
        var parts: (String, String, String)
        var seqFirst: Bool

        func render(seq: UInt64, date: Date) -> String {
            let (first, second) = seqFirst ? (String(seq), FleetJSON.format(date)) : (FleetJSON.format(date), String(seq))
            return parts.0 + first + parts.1 + second + parts.2
        }
    }

    private static func split(_ text: String, seq: String, date: String) throws -> Template {
        guard let seqRange = text.range(of: seq), let dateRange = text.range(of: date) else {
            throw BenchError("payload template: sentinel not found")
        }
        let seqFirst = seqRange.lowerBound < dateRange.lowerBound
        let (a, b) = seqFirst ? (seqRange, dateRange) : (dateRange, seqRange)
        return Template(parts: (String(text[..<a.lowerBound]), String(text[a.upperBound..<b.lowerBound]), String(text[b.upperBound...])), seqFirst: seqFirst)
    }

    static func snapshot(seq: UInt64, timestamp: Date) -> MetricsSnapshot {
        MetricsSnapshot(
            timestamp: timestamp, seq: seq,
            cpu: CPUMetrics(totalPercent: 23.4, perCorePercent: [12.5, 30.1, 18.7, 25.0, 9.9, 41.2, 22.2, 27.6], load1: 1.12, load5: 0.97, load15: 0.88),
            memory: MemoryMetrics(totalBytes: 16_777_216_000, availableBytes: 9_663_676_416, usedBytes: 7_113_539_584, swapTotalBytes: 2_147_483_648, swapFreeBytes: 2_000_000_000),
            filesystems: [
                FilesystemMetrics(mountPoint: "/", device: "/dev/nvme0n1p2", fsType: "ext4", totalBytes: 502_392_610_816, freeBytes: 311_233_200_128, availableBytes: 285_633_257_472),
                FilesystemMetrics(mountPoint: "/boot/efi", device: "/dev/nvme0n1p1", fsType: "vfat", totalBytes: 535_805_952, freeBytes: 529_436_672, availableBytes: 529_436_672),
                FilesystemMetrics(mountPoint: "/var/lib/data", device: "/dev/sdb1", fsType: "xfs", totalBytes: 4_000_787_030_016, freeBytes: 1_200_000_000_000, availableBytes: 1_200_000_000_000),
            ],
            network: [
                NetworkInterfaceMetrics(name: "eth0", rxBytes: 98_765_432_100, txBytes: 12_345_678_900, rxPackets: 87_654_321, txPackets: 23_456_789, rxErrors: 0, txErrors: 0, rxDrops: 12, txDrops: 0, rxBytesPerSecond: 125_000.5, txBytesPerSecond: 48_000.25),
                NetworkInterfaceMetrics(name: "eth0.100", rxBytes: 1_234_567_890, txBytes: 987_654_321, rxPackets: 1_234_567, txPackets: 987_654, rxErrors: 0, txErrors: 0, rxDrops: 0, txDrops: 0, rxBytesPerSecond: 2_000, txBytesPerSecond: 1_500),
            ],
            uptimeSeconds: 1_234_567.89, bootTime: timestamp.addingTimeInterval(-1_234_567.89), agentRSSBytes: 12_345_678
        )
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
