#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import FleetProtocol
import Synchronization

/// Takes metrics snapshots. Rates (CPU %, network bytes/s) come from the difference with
/// the previous sample, so the sampler keeps the last counters; call `prime()` once at
/// start so the first real snapshot already has a short interval to compare with.
public final class MetricsSampler: Sendable {
    private struct State {
        var cpu: CPUStat?
        var network: [NetworkInterfaceMetrics] = []
        var takenAt: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    private let sequence: SampleSequence

    /// - Parameter sequence: numbers the samples; persisted so they keep increasing across restarts.
    public init(sequence: SampleSequence = SampleSequence(startingAfter: 0)) {
        self.sequence = sequence
    }

    /// Reads the counters without producing a snapshot.
    public func prime() {
        #if os(Linux)
        let cpu = CPUStat.read()
        let network = NetDev.read()
        #elseif os(macOS)
        let cpu = CPUStat.readDarwin()
        let network = NetDev.readDarwin()
        #else
        let cpu: CPUStat? = nil
        let network: [NetworkInterfaceMetrics] = []
        #endif
        state.withLock { state in
            state.cpu = cpu
            state.network = network
            state.takenAt = .now
        }
    }

    /// Collects every family this OS supports. A family that fails is left out.
    public func sample() -> MetricsSnapshot {
        let now = Date()
        #if os(Linux)
        let cpuNow = CPUStat.read()
        let networkNow = NetDev.read()
        let load = LoadAverage.read()
        let uptime = Uptime.read()
        let memory = MemInfo.read()
        let filesystems = Filesystems.read()
        let rss = ProcessMemory.residentBytes()
        #elseif os(macOS)
        let cpuNow = CPUStat.readDarwin()
        let networkNow = NetDev.readDarwin()
        let load = LoadAverage.readDarwin()
        let uptime = Uptime.readDarwin()
        let memory = MemInfo.readDarwin()
        let filesystems = Filesystems.readDarwin()
        let rss = ProcessMemory.residentBytesDarwin()
        #elseif os(Windows)
        let cpuNow = WindowsCollectors.cpu()
        let networkNow: [NetworkInterfaceMetrics] = []
        let load: (Double, Double, Double)? = nil
        let uptime: Double? = WindowsCollectors.uptimeSeconds()
        let memory = WindowsCollectors.memory()
        let filesystems = WindowsCollectors.filesystems()
        let rss: UInt64? = nil
        #endif
        let seq = sequence.next()
        return state.withLock { state in
            let elapsed = state.takenAt.map { (ContinuousClock.now - $0).inSeconds } ?? 0
            var cpu: CPUMetrics?
            if let cpuNow {
                let previous = state.cpu ?? CPUStat(total: CPUTimes(), cores: [])
                let total = cpuNow.total.busyPercent(since: previous.total) ?? 0
                let perCore = cpuNow.cores.enumerated().map { index, core in
                    core.busyPercent(since: index < previous.cores.count ? previous.cores[index] : CPUTimes()) ?? 0
                }
                cpu = CPUMetrics(totalPercent: total, perCorePercent: perCore, load1: load?.0, load5: load?.1, load15: load?.2)
            }
            let network = state.takenAt == nil
                ? networkNow : NetDev.withRates(networkNow, previous: state.network, seconds: elapsed)
            state.cpu = cpuNow ?? state.cpu
            state.network = networkNow
            state.takenAt = .now
            return MetricsSnapshot(
                timestamp: now, seq: seq, cpu: cpu, memory: memory, filesystems: filesystems, network: network,
                uptimeSeconds: uptime, bootTime: uptime.map { now.addingTimeInterval(-$0) }, agentRSSBytes: rss
            )
        }
    }

}
