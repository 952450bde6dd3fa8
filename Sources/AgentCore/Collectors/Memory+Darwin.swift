#if os(macOS)
import Darwin
import FleetProtocol

extension MemInfo {
    /// hw.memsize, HOST_VM_INFO64 page counts and vm.swapusage. "Available" is free +
    /// inactive + purgeable pages: what can be had without swapping, like Linux's MemAvailable.
    public static func readDarwin() -> MemoryMetrics? {
        var total: UInt64 = 0
        var length = MemoryLayout<UInt64>.size
        guard sysctlbyname("hw.memsize", &total, &length, nil, 0) == 0 else { return nil }
        var stats = vm_statistics64()
        var count = mach_msg_type_number_t(MemoryLayout<vm_statistics64_data_t>.size / MemoryLayout<integer_t>.size)
        let result = withUnsafeMutablePointer(to: &stats) {
            $0.withMemoryRebound(to: integer_t.self, capacity: Int(count)) { host_statistics64(mach_host_self(), HOST_VM_INFO64, $0, &count) }
        }
        guard result == KERN_SUCCESS else { return nil }
        var pageSize: vm_size_t = 0
        host_page_size(mach_host_self(), &pageSize)
        let available = min(total, (UInt64(stats.free_count) + UInt64(stats.inactive_count) + UInt64(stats.purgeable_count)) * UInt64(pageSize))
        var swap = xsw_usage()
        var swapLength = MemoryLayout<xsw_usage>.size
        if sysctlbyname("vm.swapusage", &swap, &swapLength, nil, 0) != 0 { swap = xsw_usage() }
        return MemoryMetrics(
            totalBytes: total, availableBytes: available, usedBytes: total - available,
            swapTotalBytes: UInt64(swap.xsu_total), swapFreeBytes: UInt64(swap.xsu_avail)
        )
    }
}

extension ProcessMemory {
    /// The agent's resident size from task_info (MACH_TASK_BASIC_INFO).
    public static func residentBytesDarwin() -> UInt64? {
        var info = mach_task_basic_info()
        var count = mach_msg_type_number_t(MemoryLayout<mach_task_basic_info>.size / MemoryLayout<natural_t>.size)
        let result = withUnsafeMutablePointer(to: &info) {
            $0.withMemoryRebound(to: integer_t.self, capacity: Int(count)) { task_info(mach_task_self_, task_flavor_t(MACH_TASK_BASIC_INFO), $0, &count) }
        }
        return result == KERN_SUCCESS ? UInt64(info.resident_size) : nil
    }
}
#endif
