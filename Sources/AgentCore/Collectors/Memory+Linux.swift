import FleetProtocol

/// Memory and swap from /proc/meminfo (values in kB there, bytes here).
public enum MemInfo {
    public static func parse(_ text: String) -> MemoryMetrics? {
        var values: [Substring: UInt64] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon]
            let number = line[line.index(after: colon)...].split(separator: " ").first.flatMap { UInt64($0) }
            if let number { values[key] = number * 1024 }
        }
        guard let total = values["MemTotal"] else { return nil }
        // MemAvailable exists since Linux 3.14; before that, approximate as the kernel did.
        let available = values["MemAvailable"]
            ?? (values["MemFree", default: 0] + values["Buffers", default: 0] + values["Cached", default: 0])
        return MemoryMetrics(
            totalBytes: total, availableBytes: available, usedBytes: total - min(available, total),
            swapTotalBytes: values["SwapTotal", default: 0], swapFreeBytes: values["SwapFree", default: 0]
        )
    }

    public static func read() -> MemoryMetrics? {
        TextFile.read("/proc/meminfo").flatMap(parse)
    }
}
