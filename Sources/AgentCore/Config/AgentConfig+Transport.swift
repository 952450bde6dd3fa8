#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FleetSupport

/// How the agent reaches the master, checked before anything connects: the token must not
/// travel in clear beyond this host, and TLS settings must make sense.
extension AgentConfig {
    func validateTransport() throws {
        func fail(_ key: String, _ message: String) -> ConfigError {
            ConfigError(kind: .invalidValue, source: "configuration", key: key, message: message)
        }
        guard master.apiURL.hasPrefix("http://") || master.apiURL.hasPrefix("https://") else {
            throw fail("master.api_url", "'\(master.apiURL)' is not an http:// or https:// URL")
        }
        let endpoints = gatewayURLs.enumerated().map { ($0.offset == 0 ? "master.url" : "master.urls", $0.element) }
            + [("master.api_url", master.apiURL)]
        for (key, url) in endpoints {
            guard let host = Self.host(of: url), !host.isEmpty else { throw fail(key, "'\(url)' names no host") }
            if url.hasPrefix("wss://"), Self.ipAddress(host) != nil {
                // The WebSocket client sends the host as TLS server name, which cannot be an
                // address, so the certificate could never be checked.
                throw fail(key, """
                    '\(url)': wss:// needs a host name, not an IP address; use a name the gateway's \
                    certificate lists (localhost, or one given to `master certs init --host`)
                    """)
            }
            let plaintext = url.hasPrefix("ws://") || url.hasPrefix("http://")
            if plaintext, !master.token.isEmpty, !master.insecure, !Self.isLoopback(host) {
                throw fail(key, """
                    '\(url)' is not encrypted and \(host) is not this host: the token (master.token) would \
                    travel in clear. Use wss:// for master.url/master.urls and https:// for master.api_url \
                    (with master.ca_file for a private CA), or set master.insecure: true to allow it
                    """)
            }
        }
        guard master.certFile.isEmpty == master.keyFile.isEmpty else {
            throw fail(master.certFile.isEmpty ? "master.cert_file" : "master.key_file", "master.cert_file and master.key_file go together: set both or neither")
        }
    }

    /// The host of `scheme://[user@]host[:port][/path]`, without IPv6 brackets.
    static func host(of url: String) -> String? {
        guard let colon = url.firstIndex(of: ":"), url[colon...].hasPrefix("://") else { return nil }
        let rest = url[url.index(colon, offsetBy: 3)...]
        var authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            return String(authority[authority.index(after: authority.startIndex)..<close])
        }
        return String(authority.prefix { $0 != ":" })
    }

    /// 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and `localhost`: traffic that never leaves
    /// the machine, where plaintext exposes nothing a local root could not read anyway.
    static func isLoopback(_ host: String) -> Bool {
        if host.lowercased() == "localhost" { return true }
        switch ipAddress(host) {
        case .v4(let bytes)?: return bytes[0] == 127
        case .v6(let bytes)?:
            if bytes == [UInt8](repeating: 0, count: 15) + [1] { return true }
            let mapped = [UInt8](repeating: 0, count: 10) + [0xff, 0xff]
            return Array(bytes[0..<12]) == mapped && bytes[12] == 127
        case nil: return false
        }
    }

    enum IPAddress: Equatable { case v4([UInt8]), v6([UInt8]) }

    static func ipAddress(_ host: String) -> IPAddress? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            return .v4(withUnsafeBytes(of: &v4) { Array($0) })
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            return .v6(withUnsafeBytes(of: &v6) { Array($0) })
        }
        return nil
    }
}
