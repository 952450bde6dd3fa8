import Foundation

/// A CPU ceiling for one process: a cgroup v1 `cpu` group with a CFS quota (as root, where
/// `/sys/fs/cgroup/cpu` is mounted, as on this machine). How the bench makes a role the
/// ceiling on purpose: on a 2-core box shared with the swarm, the swarm cannot offer a
/// multiple of what the master takes, and a niced registry still got all it needed.
struct CPUQuota {
    let directory: String

    /// Moves `pid` (all its threads) into a new group allowed `cores` of CPU time.
    init(pid: Int32, cores: Double, name: String) throws {
        let root = "/sys/fs/cgroup/cpu"
        guard FileManager.default.fileExists(atPath: "\(root)/cgroup.procs") else {
            throw BenchError("no cgroup v1 cpu controller at \(root): --registry-cpu needs it (and root)")
        }
        directory = "\(root)/\(name)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        let period = 100_000
        try Self.write("\(period)", to: "\(directory)/cpu.cfs_period_us")
        try Self.write("\(max(1_000, Int(cores * Double(period))))", to: "\(directory)/cpu.cfs_quota_us")
        try Self.write("\(pid)", to: "\(directory)/cgroup.procs")
    }

    /// Throttled time so far (`nr_throttled` periods and `throttled_time` in seconds).
    var throttledSeconds: Double {
        guard let text = try? String(contentsOfFile: "\(directory)/cpu.stat", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("throttled_time ") {
            return (Double(line.split(separator: " ")[1]) ?? 0) / 1e9
        }
        return 0
    }

    /// Moves whatever is still in the group back to the root group and removes it.
    func remove() {
        let root = "/sys/fs/cgroup/cpu"
        if let procs = try? String(contentsOfFile: "\(directory)/cgroup.procs", encoding: .utf8) {
            for pid in procs.split(separator: "\n") { try? Self.write(String(pid), to: "\(root)/cgroup.procs") }
        }
        rmdir(directory)
    }

    private static func write(_ text: String, to path: String) throws {
        guard let handle = FileHandle(forWritingAtPath: path) else { throw BenchError("cannot open \(path)") }
        defer { try? handle.close() }
        try handle.write(contentsOf: Data(text.utf8))
    }
}
