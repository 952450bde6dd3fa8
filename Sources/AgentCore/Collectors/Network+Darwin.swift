#if os(macOS)
import Darwin
import FleetProtocol

extension NetDev {
    /// Per-interface counters from getifaddrs (AF_LINK entries carry an if_data).
    public static func readDarwin() -> [NetworkInterfaceMetrics] {
        var first: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&first) == 0, let first else { return [] }
        defer { freeifaddrs(first) }
        var result: [NetworkInterfaceMetrics] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == UInt8(AF_LINK),
                let raw = entry.pointee.ifa_data
            else { continue }
            let data = raw.assumingMemoryBound(to: if_data.self).pointee
            result.append(NetworkInterfaceMetrics(
                name: String(cString: entry.pointee.ifa_name), rxBytes: UInt64(data.ifi_ibytes), txBytes: UInt64(data.ifi_obytes),
                rxPackets: UInt64(data.ifi_ipackets), txPackets: UInt64(data.ifi_opackets), rxErrors: UInt64(data.ifi_ierrors),
                txErrors: UInt64(data.ifi_oerrors), rxDrops: UInt64(data.ifi_iqdrops), txDrops: 0
            ))
        }
        return result
    }
}
#endif
