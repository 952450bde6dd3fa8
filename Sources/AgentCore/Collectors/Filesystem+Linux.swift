#if canImport(Glibc)
import Glibc
#endif
import FleetProtocol

/// Real filesystems from /proc/self/mounts, sized with statvfs.
public enum Filesystems {
    public struct Mount: Sendable, Equatable {
        public var device: String
        public var mountPoint: String
        public var fsType: String
    }

    /// Filesystem types that hold no user data (node_exporter's default exclusions, plus
    /// tmpfs-like types); configurable through `metrics.exclude_fs_types` later.
    public static let pseudoTypes: Set<String> = [
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts", "devtmpfs",
        "fusectl", "hugetlbfs", "iso9660", "mqueue", "nsfs", "overlay", "proc", "procfs", "pstore", "rpc_pipefs",
        "securityfs", "selinuxfs", "squashfs", "sysfs", "tracefs", "tmpfs", "ramfs", "efivarfs", "fuse.lxcfs",
        "fuse.portal", "nfsd", "devfs", "tmpfs",
    ]

    /// Parses /proc/self/mounts. Octal escapes (`\040` for a space, `\011`, `\012`, `\134`)
    /// in device and mount point are decoded; pseudo filesystems and duplicate mount points
    /// (bind mounts stacked on one path: the last one is visible) are dropped.
    public static func parse(_ text: String, excluding excluded: Set<String> = pseudoTypes) -> [Mount] {
        var byPoint: [String: Mount] = [:]
        var order: [String] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 3 else { continue }
            let mount = Mount(device: unescape(fields[0]), mountPoint: unescape(fields[1]), fsType: String(fields[2]))
            guard !excluded.contains(mount.fsType) else { continue }
            if byPoint[mount.mountPoint] == nil { order.append(mount.mountPoint) }
            byPoint[mount.mountPoint] = mount
        }
        return order.compactMap { byPoint[$0] }
    }

    static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        let raw = Array(field.utf8)
        var index = 0
        while index < raw.count {
            if raw[index] == UInt8(ascii: "\\"), index + 3 < raw.count {
                let digits = raw[(index + 1)...(index + 3)]
                if digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7") }) {
                    let value = digits.reduce(0) { $0 * 8 + Int($1 - UInt8(ascii: "0")) }
                    bytes.append(UInt8(truncatingIfNeeded: value))
                    index += 4
                    continue
                }
            }
            bytes.append(raw[index])
            index += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Sizes every real filesystem. A mount that cannot be stat'ed (stale NFS, permissions)
    /// is skipped, not fatal.
    public static func read(excluding excluded: Set<String> = pseudoTypes) -> [FilesystemMetrics] {
        guard let text = TextFile.read("/proc/self/mounts") else { return [] }
        return parse(text, excluding: excluded).compactMap { mount in
            var info = statvfs()
            guard statvfs(mount.mountPoint, &info) == 0, info.f_blocks > 0 else { return nil }
            let unit = UInt64(info.f_frsize == 0 ? info.f_bsize : info.f_frsize)
            return FilesystemMetrics(
                mountPoint: mount.mountPoint, device: mount.device, fsType: mount.fsType,
                totalBytes: UInt64(info.f_blocks) * unit, freeBytes: UInt64(info.f_bfree) * unit,
                availableBytes: UInt64(info.f_bavail) * unit
            )
        }
    }
}
