#if os(Windows)
import WinSDK
import FleetProtocol

// Windows collectors: total CPU from GetSystemTimes, memory from GlobalMemoryStatusEx, every
// fixed drive from GetDiskFreeSpaceExW, uptime from GetTickCount64. Per-core CPU and network
// (GetIfTable2) are not collected yet. Not compiled or run on this project's Linux CI.
public enum WindowsCollectors {
    public static func cpu() -> CPUStat? {
        var idle = FILETIME(), kernel = FILETIME(), user = FILETIME()
        guard GetSystemTimes(&idle, &kernel, &user) else { return nil }
        func ticks(_ time: FILETIME) -> UInt64 { UInt64(time.dwHighDateTime) << 32 | UInt64(time.dwLowDateTime) }
        // Kernel time includes idle time.
        let idleTicks = ticks(idle)
        let total = CPUTimes(user: ticks(user), system: ticks(kernel) - idleTicks, idle: idleTicks)
        return CPUStat(total: total, cores: [])
    }

    public static func memory() -> MemoryMetrics? {
        var status = MEMORYSTATUSEX()
        status.dwLength = DWORD(MemoryLayout<MEMORYSTATUSEX>.size)
        guard GlobalMemoryStatusEx(&status) else { return nil }
        let total = UInt64(status.ullTotalPhys), available = UInt64(status.ullAvailPhys)
        let pageTotal = UInt64(status.ullTotalPageFile), pageFree = UInt64(status.ullAvailPageFile)
        return MemoryMetrics(
            totalBytes: total, availableBytes: available, usedBytes: total - min(available, total),
            swapTotalBytes: pageTotal > total ? pageTotal - total : 0, swapFreeBytes: pageFree > available ? pageFree - available : 0
        )
    }

    public static func filesystems() -> [FilesystemMetrics] {
        let drives = GetLogicalDrives()
        return (0..<26).compactMap { index -> FilesystemMetrics? in
            guard drives & (1 << index) != 0 else { return nil }
            let root = "\(Character(UnicodeScalar(UInt8(65 + index)))):\\"
            let wide = Array(root.utf16) + [0]
            guard GetDriveTypeW(wide) == UINT(DRIVE_FIXED) else { return nil }
            var available = ULARGE_INTEGER(), total = ULARGE_INTEGER(), free = ULARGE_INTEGER()
            guard GetDiskFreeSpaceExW(wide, &available, &total, &free) else { return nil }
            return FilesystemMetrics(
                mountPoint: root, device: root, fsType: "ntfs", totalBytes: UInt64(total.QuadPart),
                freeBytes: UInt64(free.QuadPart), availableBytes: UInt64(available.QuadPart)
            )
        }
    }

    public static func uptimeSeconds() -> Double {
        Double(GetTickCount64()) / 1000
    }
}
#endif
