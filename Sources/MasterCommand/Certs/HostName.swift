#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SwiftASN1
import X509

/// A name a gateway certificate is valid for: a DNS name (wildcards as `*.example.org`) or an
/// IP address, as a subject alternative name. Clients match the host of the URL they dialled
/// against these, so every name or address agents and operators use must be listed.
enum HostName: Hashable, CustomStringConvertible {
    case dns(String)
    case ip(String, bytes: [UInt8])

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    /// Always on a gateway certificate: what a client on the gateway's own host dials.
    static let loopback: [HostName] = [.dns("localhost"), .ip("127.0.0.1", bytes: [127, 0, 0, 1]), .ip("::1", bytes: [UInt8](repeating: 0, count: 15) + [1])]

    init(parsing text: String) throws {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self = .ip(text, bytes: withUnsafeBytes(of: &v4) { Array($0) })
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            self = .ip(text, bytes: withUnsafeBytes(of: &v6) { Array($0) })
            return
        }
        let name = text.lowercased()
        guard Self.isDNSName(name) else {
            throw Invalid(description: "'\(text)' is neither a DNS name (letters, digits, '-', dots; optionally '*.' first) nor an IP address")
        }
        self = .dns(name)
    }

    static func isDNSName(_ name: String) -> Bool {
        guard (1...253).contains(name.utf8.count) else { return false }
        var labels = name.split(separator: ".", omittingEmptySubsequences: false)
        if labels.first == "*" {
            labels.removeFirst()
            guard labels.count >= 2 else { return false }  // no `*.com`-style wildcard
        }
        return labels.allSatisfy { label in
            (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
                && label.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d }
        }
    }

    var generalName: GeneralName {
        switch self {
        case .dns(let name): .dnsName(name)
        case .ip(_, let bytes): .ipAddress(ASN1OctetString(contentBytes: bytes[...]))
        }
    }

    var description: String {
        switch self {
        case .dns(let name): name
        case .ip(let text, _): text
        }
    }
}
