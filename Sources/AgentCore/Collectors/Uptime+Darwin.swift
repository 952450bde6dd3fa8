#if os(macOS)
import Darwin

extension Uptime {
    /// Seconds since kern.boottime.
    public static func readDarwin() -> Double? {
        var boot = timeval()
        var length = MemoryLayout<timeval>.size
        guard sysctlbyname("kern.boottime", &boot, &length, nil, 0) == 0 else { return nil }
        var now = timeval()
        gettimeofday(&now, nil)
        return Double(now.tv_sec - boot.tv_sec) + Double(now.tv_usec - boot.tv_usec) / 1e6
    }
}

#endif
