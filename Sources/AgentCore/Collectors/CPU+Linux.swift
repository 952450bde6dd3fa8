/// CPU time counters from /proc/stat, in jiffies.
public struct CPUTimes: Sendable, Equatable {
    public var user: UInt64 = 0
    public var nice: UInt64 = 0
    public var system: UInt64 = 0
    public var idle: UInt64 = 0
    public var iowait: UInt64 = 0
    public var irq: UInt64 = 0
    public var softirq: UInt64 = 0
    public var steal: UInt64 = 0

    public init(user: UInt64 = 0, nice: UInt64 = 0, system: UInt64 = 0, idle: UInt64 = 0, iowait: UInt64 = 0, irq: UInt64 = 0, softirq: UInt64 = 0, steal: UInt64 = 0) {
        self.user = user
        self.nice = nice
        self.system = system
        self.idle = idle
        self.iowait = iowait
        self.irq = irq
        self.softirq = softirq
        self.steal = steal
    }

    /// Idle includes iowait: a CPU waiting for I/O is free to run other work.
    var idleAll: UInt64 { idle + iowait }
    /// Guest time is already counted in user/nice, so it is left out.
    var total: UInt64 { user + nice + system + idle + iowait + irq + softirq + steal }

    /// Busy share between `earlier` and `self`, 0...100; nil if no time passed.
    public func busyPercent(since earlier: CPUTimes) -> Double? {
        guard total > earlier.total else { return nil }
        let totalDelta = Double(total - earlier.total)
        let idleDelta = Double(idleAll >= earlier.idleAll ? idleAll - earlier.idleAll : 0)
        return min(100, max(0, (totalDelta - idleDelta) / totalDelta * 100))
    }
}

/// One reading of /proc/stat: the all-CPU line and one per core.
public struct CPUStat: Sendable, Equatable {
    public var total: CPUTimes
    public var cores: [CPUTimes]

    /// Parses /proc/stat. Lines `cpu ` (aggregate) and `cpuN` (cores, in order); other lines
    /// are ignored. Missing trailing fields (old kernels) count as zero.
    public static func parse(_ text: String) -> CPUStat? {
        var total: CPUTimes?
        var cores: [CPUTimes] = []
        for line in text.split(separator: "\n") where line.hasPrefix("cpu") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let name = fields.first else { continue }
            let numbers = fields.dropFirst().map { UInt64($0) ?? 0 }
            func field(_ index: Int) -> UInt64 { index < numbers.count ? numbers[index] : 0 }
            let times = CPUTimes(
                user: field(0), nice: field(1), system: field(2), idle: field(3), iowait: field(4),
                irq: field(5), softirq: field(6), steal: field(7)
            )
            if name == "cpu" { total = times } else { cores.append(times) }
        }
        guard let total else { return nil }
        return CPUStat(total: total, cores: cores)
    }

    public static func read() -> CPUStat? {
        TextFile.read("/proc/stat").flatMap(parse)
    }
}

/// Load averages from /proc/loadavg (`0.52 0.58 0.59 1/389 12345`).
public enum LoadAverage {
    public static func parse(_ text: String) -> (Double, Double, Double)? {
        let fields = text.split(separator: " ")
        guard fields.count >= 3, let one = Double(fields[0]), let five = Double(fields[1]), let fifteen = Double(fields[2]) else {
            return nil
        }
        return (one, five, fifteen)
    }

    public static func read() -> (Double, Double, Double)? {
        TextFile.read("/proc/loadavg").flatMap(parse)
    }
}
