import FleetProtocol

/// Per-interface counters from /proc/net/dev.
public enum NetDev {
    /// Parses /proc/net/dev: two header lines, then `name: rx(8 fields) tx(8 fields)`.
    /// Interface names may contain dots and dashes (`eth0.100`, `br-1a2b`); the name ends at
    /// the first colon, and old kernels put no space after it (`eth0:1234 ...`).
    public static func parse(_ text: String) -> [NetworkInterfaceMetrics] {
        text.split(separator: "\n").compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let name = line[..<colon].trimmingCharacters(in: " ")
            let numbers = line[line.index(after: colon)...].split(separator: " ").compactMap { UInt64($0) }
            guard !name.isEmpty, numbers.count >= 16 else { return nil }
            return NetworkInterfaceMetrics(
                name: name, rxBytes: numbers[0], txBytes: numbers[8], rxPackets: numbers[1], txPackets: numbers[9],
                rxErrors: numbers[2], txErrors: numbers[10], rxDrops: numbers[3], txDrops: numbers[11]
            )
        }
    }

    public static func read() -> [NetworkInterfaceMetrics] {
        TextFile.read("/proc/net/dev").map(parse) ?? []
    }

    /// Fills in byte rates from the previous reading taken `seconds` earlier. A counter that
    /// went backwards (interface reset, 32-bit wrap) yields no rate rather than a bogus one.
    public static func withRates(
        _ current: [NetworkInterfaceMetrics], previous: [NetworkInterfaceMetrics], seconds: Double
    ) -> [NetworkInterfaceMetrics] {
        guard seconds > 0 else { return current }
        let earlier = Dictionary(previous.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        return current.map { interface in
            var result = interface
            if let before = earlier[interface.name] {
                if interface.rxBytes >= before.rxBytes {
                    result.rxBytesPerSecond = Double(interface.rxBytes - before.rxBytes) / seconds
                }
                if interface.txBytes >= before.txBytes {
                    result.txBytesPerSecond = Double(interface.txBytes - before.txBytes) / seconds
                }
            }
            return result
        }
    }
}

extension Substring {
    func trimmingCharacters(in character: Character) -> String {
        var slice = self[...]
        while slice.first == character { slice = slice.dropFirst() }
        while slice.last == character { slice = slice.dropLast() }
        return String(slice)
    }
}
