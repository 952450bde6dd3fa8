#if os(macOS)
import Darwin
import FleetProtocol

extension Filesystems {
    /// Every mounted filesystem from getmntinfo, pseudo types excluded.
    public static func readDarwin(excluding excluded: Set<String> = pseudoTypes.union(["devfs", "autofs", "nullfs"])) -> [FilesystemMetrics] {
        var mounts: UnsafeMutablePointer<statfs>?
        let count = getmntinfo(&mounts, MNT_NOWAIT)
        guard count > 0, let mounts else { return [] }
        return (0..<Int(count)).compactMap { index in
            var entry = mounts[index]
            let type = OSFacts.string(from: &entry.f_fstypename)
            guard !excluded.contains(type), entry.f_blocks > 0 else { return nil }
            let unit = UInt64(entry.f_bsize)
            return FilesystemMetrics(
                mountPoint: OSFacts.string(from: &entry.f_mntonname), device: OSFacts.string(from: &entry.f_mntfromname), fsType: type,
                totalBytes: UInt64(entry.f_blocks) * unit, freeBytes: UInt64(entry.f_bfree) * unit, availableBytes: UInt64(entry.f_bavail) * unit
            )
        }
    }
}
#endif
