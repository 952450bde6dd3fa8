import AgentCore
import FleetProtocol
import Foundation
import Testing

/// Parsers run on committed /proc fixtures, odd cases included; a live test compares the
/// collector with /proc read here independently.
@Suite("Linux collector parsers")
struct CollectorParserTests {
    static func fixture(_ name: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil))
        return try String(contentsOf: url, encoding: .utf8)
    }

    @Test("/proc/stat with 64 CPUs: aggregate and every core, other lines ignored")
    func cpuStat() throws {
        let stat = try #require(CPUStat.parse(try Self.fixture("proc-stat-64cpu.txt")))
        #expect(stat.cores.count == 64)
        #expect(stat.total.user == 640_000)
        #expect(stat.total.iowait == 6_400)
        #expect(stat.cores[63].system == 5_000)
    }

    @Test("CPU busy % from deltas counts iowait as idle")
    func cpuPercent() {
        let before = CPUTimes(user: 100, system: 100, idle: 700, iowait: 100)
        let after = CPUTimes(user: 150, system: 150, idle: 750, iowait: 150)  // +200 total, +100 idle
        #expect(after.busyPercent(since: before) == 50)
        #expect(before.busyPercent(since: before) == nil)
    }

    @Test("/proc/meminfo in bytes; used = total - available")
    func memInfo() throws {
        let memory = try #require(MemInfo.parse(try Self.fixture("proc-meminfo.txt")))
        #expect(memory.totalBytes == 24_684_092 * 1024)
        #expect(memory.availableBytes == 24_193_204 * 1024)
        #expect(memory.usedBytes == (24_684_092 - 24_193_204) * 1024)
        #expect(memory.swapTotalBytes == 2_097_148 * 1024)
        #expect(memory.swapFreeBytes == 2_000_000 * 1024)
    }

    @Test("/proc/meminfo without MemAvailable (pre-3.14 kernels) falls back to free+buffers+cached")
    func memInfoOldKernel() throws {
        let memory = try #require(MemInfo.parse("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n"))
        #expect(memory.availableBytes == 400 * 1024)
    }

    @Test("mounts: escaped spaces/tabs/backslashes decoded, pseudo filesystems dropped, stacked mounts once")
    func mounts() throws {
        let mounts = Filesystems.parse(try Self.fixture("proc-mounts.txt"))
        #expect(mounts.map(\.mountPoint) == ["/", "/mnt/My Data", "/srv/tab\tand\\slash", "/srv/bind"])
        #expect(mounts.first { $0.mountPoint == "/srv/bind" }?.device == "/dev/vdd1")
        #expect(!mounts.contains { ["tmpfs", "proc", "sysfs", "cgroup2", "overlay", "devtmpfs"].contains($0.fsType) })
    }

    @Test("/proc/net/dev: names with dots and dashes, no space after the colon")
    func netDev() throws {
        let interfaces = NetDev.parse(try Self.fixture("proc-net-dev.txt"))
        #expect(interfaces.map(\.name) == ["lo", "eth0", "eth0.100", "br-1a2b3c"])
        let eth0 = try #require(interfaces.first { $0.name == "eth0" })
        #expect(eth0.rxBytes == 987_654_321 && eth0.txBytes == 123_456_789)
        #expect(eth0.rxPackets == 1_234_567 && eth0.txPackets == 654_321)
        #expect(eth0.rxErrors == 3 && eth0.rxDrops == 7 && eth0.txErrors == 1 && eth0.txDrops == 2)
        let vlan = try #require(interfaces.first { $0.name == "eth0.100" })
        #expect(vlan.rxBytes == 1000 && vlan.txBytes == 2000)
    }

    @Test("network rates from two readings; a counter reset gives no rate")
    func netRates() {
        func interface(_ rx: UInt64, _ tx: UInt64) -> NetworkInterfaceMetrics {
            NetworkInterfaceMetrics(name: "eth0", rxBytes: rx, txBytes: tx, rxPackets: 0, txPackets: 0, rxErrors: 0, txErrors: 0, rxDrops: 0, txDrops: 0)
        }
        let rated = NetDev.withRates([interface(3000, 500)], previous: [interface(1000, 1000)], seconds: 2)
        #expect(rated[0].rxBytesPerSecond == 1000)
        #expect(rated[0].txBytesPerSecond == nil)
    }

    @Test("uptime, load average, os-release, VmRSS")
    func smallFiles() {
        #expect(Uptime.parse("350735.47 234388.90\n") == 350735.47)
        let load = LoadAverage.parse("0.52 0.58 0.59 1/389 12345\n")
        #expect(load?.0 == 0.52 && load?.1 == 0.58 && load?.2 == 0.59)
        let release = OSFacts.parseOSRelease("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n# comment\nID=debian\n")
        #expect(release["NAME"] == "Debian GNU/Linux" && release["VERSION_ID"] == "12" && release["ID"] == "debian")
        #expect(ProcessMemory.parseRSS("Name:\tagent\nVmRSS:\t   12345 kB\n") == 12345 * 1024)
    }

    @Test("live: the sampler's memory total and CPU count match /proc read by the test")
    func liveSample() throws {
        let sampler = MetricsSampler()
        sampler.prime()
        let snapshot = sampler.sample()
        let meminfo = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
        let totalKB = try #require(meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }?
            .split(separator: " ").dropFirst().first.flatMap { UInt64($0) })
        #expect(snapshot.memory?.totalBytes == totalKB * 1024)
        let cores = try String(contentsOfFile: "/proc/stat", encoding: .utf8).split(separator: "\n")
            .filter { $0.hasPrefix("cpu") && !$0.hasPrefix("cpu ") }.count
        #expect(snapshot.cpu?.perCorePercent.count == cores)
        #expect(snapshot.filesystems?.contains { $0.mountPoint == "/" } == true)
        let uptime = try #require(Double(try String(contentsOfFile: "/proc/uptime", encoding: .utf8).split(separator: " ")[0]))
        #expect(abs((snapshot.uptimeSeconds ?? 0) - uptime) < 5)
        #expect((snapshot.agentRSSBytes ?? 0) > 1_000_000)
    }
}
