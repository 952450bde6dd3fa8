import Foundation
import Topology

/// CPU time and resident memory of master processes, read from /proc (the same numbers `ps`
/// and `top` show), so every figure is what the operating system charges the process.
struct ProcessUsage: Sendable {
    /// utime + stime, seconds.
    var cpuSeconds: Double
    /// VmRSS, bytes.
    var rssBytes: Int

    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    static func read(pid: Int32) -> ProcessUsage? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name (which may hold spaces): state is field 3; utime 14, stime 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        var rss = 0
        if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) {
            rss = (Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0) * 1024
        }
        return ProcessUsage(cpuSeconds: (utime + stime) / ticksPerSecond, rssBytes: rss)
    }
}

/// Usage of every process of a topology, by role name.
struct TopologyUsage: Sendable {
    var byRole: [String: ProcessUsage]

    static func read(_ topology: Topology) -> TopologyUsage {
        var byRole: [String: ProcessUsage] = [:]
        for role in topology.processes { byRole[role.name] = ProcessUsage.read(pid: role.pid) }
        return TopologyUsage(byRole: byRole)
    }

    var cpuSeconds: Double { byRole.values.map(\.cpuSeconds).reduce(0, +) }
    var rssBytes: Int { byRole.values.map(\.rssBytes).reduce(0, +) }

    /// CPU spent between `earlier` and now, summed over roles present in both.
    func cpu(since earlier: TopologyUsage) -> Double {
        byRole.reduce(0) { total, entry in total + entry.value.cpuSeconds - (earlier.byRole[entry.key]?.cpuSeconds ?? entry.value.cpuSeconds) }
    }
}

/// Samples peak RSS of every role in the background (for the logs scenario).
final class PeakSampler: @unchecked Sendable {
    // @unchecked Sendable: `peaks` is written by the sampling task only and read after it ends.
    private var peaks: [String: Int] = [:]
    private var task: Task<Void, Never>?

    func start(_ topology: Topology, every interval: Duration = .milliseconds(50)) {
        task = Task {
            while !Task.isCancelled {
                for (role, usage) in TopologyUsage.read(topology).byRole { peaks[role] = max(peaks[role] ?? 0, usage.rssBytes) }
                try? await Task.sleep(for: interval)
            }
        }
    }

    func stop() async -> [String: Int] {
        task?.cancel()
        await task?.value
        return peaks
    }
}
