import FleetProtocol

extension BusEndpoints {
    /// Whether `endpoint` stays on this host: `inproc://`, `ipc://`, or `tcp://` to a loopback
    /// address (127.0.0.0/8, `::1`, `localhost`). Anything else, including `tcp://*` and
    /// `tcp://0.0.0.0` (every interface) and interface names, counts as a network: a bus
    /// there without CURVE keys is refused unless `bus.insecure: true`.
    public static func isLocal(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("inproc://") || endpoint.hasPrefix("ipc://") { return true }
        guard endpoint.hasPrefix("tcp://") else { return false }
        // `tcp://source;destination:port` names a source address first: judge the destination.
        let address = endpoint.dropFirst("tcp://".count).split(separator: ";").last.map(String.init) ?? ""
        guard let colon = address.lastIndex(of: ":") else { return false }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" || host == "::1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.first == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}
