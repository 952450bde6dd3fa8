/// The agent's own resident memory, from /proc/self/status (`VmRSS:   12345 kB`).
public enum ProcessMemory {
    public static func parseRSS(_ text: String) -> UInt64? {
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.split(separator: " ").dropFirst().first.flatMap { UInt64($0) }.map { $0 * 1024 }
        }
        return nil
    }

    public static func residentBytes() -> UInt64? {
        TextFile.read("/proc/self/status").flatMap(parseRSS)
    }
}
