#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One sample of a host's metrics, taken by the agent's collectors.
///
/// Every family is optional: a collector that fails (or does not exist on an OS) leaves its
/// family out rather than failing the whole sample.
public struct MetricsSnapshot: Codable, Sendable, Equatable {
    /// When the sample was taken, by the agent's clock.
    public var timestamp: Date
    /// The agent's sample counter, increasing by one per sample; lets the registry de-duplicate
    /// samples replayed from the agent's offline buffer.
    public var seq: UInt64
    public var cpu: CPUMetrics?
    public var memory: MemoryMetrics?
    public var filesystems: [FilesystemMetrics]?
    public var network: [NetworkInterfaceMetrics]?
    public var uptimeSeconds: Double?
    public var bootTime: Date?
    /// The agent process's own resident memory.
    public var agentRSSBytes: UInt64?

    public init(
        timestamp: Date, seq: UInt64, cpu: CPUMetrics? = nil, memory: MemoryMetrics? = nil,
        filesystems: [FilesystemMetrics]? = nil, network: [NetworkInterfaceMetrics]? = nil,
        uptimeSeconds: Double? = nil, bootTime: Date? = nil, agentRSSBytes: UInt64? = nil
    ) {
        self.timestamp = timestamp
        self.seq = seq
        self.cpu = cpu
        self.memory = memory
        self.filesystems = filesystems
        self.network = network
        self.uptimeSeconds = uptimeSeconds
        self.bootTime = bootTime
        self.agentRSSBytes = agentRSSBytes
    }
}

/// CPU utilisation over the interval since the previous sample.
public struct CPUMetrics: Codable, Sendable, Equatable {
    /// Busy share of all cores, 0...100.
    public var totalPercent: Double
    /// Busy share per core, 0...100, in the kernel's order.
    public var perCorePercent: [Double]
    public var load1: Double?
    public var load5: Double?
    public var load15: Double?

    public init(totalPercent: Double, perCorePercent: [Double], load1: Double? = nil, load5: Double? = nil, load15: Double? = nil) {
        self.totalPercent = totalPercent
        self.perCorePercent = perCorePercent
        self.load1 = load1
        self.load5 = load5
        self.load15 = load15
    }
}

public struct MemoryMetrics: Codable, Sendable, Equatable {
    public var totalBytes: UInt64
    /// What the kernel estimates can be allocated without swapping (Linux MemAvailable).
    public var availableBytes: UInt64
    public var usedBytes: UInt64
    public var swapTotalBytes: UInt64
    public var swapFreeBytes: UInt64

    public init(totalBytes: UInt64, availableBytes: UInt64, usedBytes: UInt64, swapTotalBytes: UInt64, swapFreeBytes: UInt64) {
        self.totalBytes = totalBytes
        self.availableBytes = availableBytes
        self.usedBytes = usedBytes
        self.swapTotalBytes = swapTotalBytes
        self.swapFreeBytes = swapFreeBytes
    }

    public var usedPercent: Double { Self.usedPercent(totalBytes: totalBytes, availableBytes: availableBytes) }

    /// Used share of memory, 0...100: what is not available (a kernel reporting more available
    /// than total counts as none used).
    public static func usedPercent(totalBytes: UInt64, availableBytes: UInt64) -> Double {
        totalBytes == 0 ? 0 : Double(totalBytes - min(availableBytes, totalBytes)) / Double(totalBytes) * 100
    }
}

public struct FilesystemMetrics: Codable, Sendable, Equatable {
    public var mountPoint: String
    public var device: String
    public var fsType: String
    public var totalBytes: UInt64
    public var freeBytes: UInt64
    /// Free space available to unprivileged users.
    public var availableBytes: UInt64
    public var usedPercent: Double

    public init(mountPoint: String, device: String, fsType: String, totalBytes: UInt64, freeBytes: UInt64, availableBytes: UInt64) {
        self.mountPoint = mountPoint
        self.device = device
        self.fsType = fsType
        self.totalBytes = totalBytes
        self.freeBytes = freeBytes
        self.availableBytes = availableBytes
        // As df computes it: used / (used + available), so reserved blocks count as unavailable.
        let used = totalBytes - min(freeBytes, totalBytes)
        let denominator = used + availableBytes
        self.usedPercent = denominator == 0 ? 0 : Double(used) / Double(denominator) * 100
    }
}

public struct NetworkInterfaceMetrics: Codable, Sendable, Equatable {
    public var name: String
    public var rxBytes: UInt64
    public var txBytes: UInt64
    public var rxPackets: UInt64
    public var txPackets: UInt64
    public var rxErrors: UInt64
    public var txErrors: UInt64
    public var rxDrops: UInt64
    public var txDrops: UInt64
    /// Rates over the interval since the previous sample; nil on the first sample.
    public var rxBytesPerSecond: Double?
    public var txBytesPerSecond: Double?

    public init(
        name: String, rxBytes: UInt64, txBytes: UInt64, rxPackets: UInt64, txPackets: UInt64,
        rxErrors: UInt64, txErrors: UInt64, rxDrops: UInt64, txDrops: UInt64,
        rxBytesPerSecond: Double? = nil, txBytesPerSecond: Double? = nil
    ) {
        self.name = name
        self.rxBytes = rxBytes
        self.txBytes = txBytes
        self.rxPackets = rxPackets
        self.txPackets = txPackets
        self.rxErrors = rxErrors
        self.txErrors = txErrors
        self.rxDrops = rxDrops
        self.txDrops = txDrops
        self.rxBytesPerSecond = rxBytesPerSecond
        self.txBytesPerSecond = txBytesPerSecond
    }
}
