#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FleetProtocol

/// Operating system facts: uname for kernel and arch everywhere; the distribution from
/// /etc/os-release on Linux and kern.osproductversion on macOS (OSInfo+Darwin.swift).
public enum OSFacts {
    /// Parses os-release (`KEY=value`, values optionally quoted).
    public static func parseOSRelease(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "="), !line.hasPrefix("#") else { continue }
            var value = line[line.index(after: equals)...]
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = value.dropFirst().dropLast()
            }
            values[String(line[..<equals])] = String(value)
        }
        return values
    }

    public static func current() -> OSInfo {
        var name = "Linux"
        var version = ""
        #if os(Linux)
        let release = (TextFile.read("/etc/os-release") ?? TextFile.read("/usr/lib/os-release")).map(parseOSRelease) ?? [:]
        name = release["NAME"] ?? "Linux"
        version = release["VERSION"] ?? release["VERSION_ID"] ?? ""
        #elseif os(macOS)
        name = "macOS"
        version = darwinVersion()
        #endif
        var system = utsname()
        uname(&system)
        return OSInfo(
            name: name, version: version,
            kernel: string(from: &system.release), arch: string(from: &system.machine)
        )
    }

    /// The host's name as the kernel knows it.
    public static func hostname() -> String {
        var system = utsname()
        uname(&system)
        return string(from: &system.nodename)
    }

    /// uname's fields are fixed-size C char tuples; read them up to the first NUL.
    static func string<T>(from tuple: inout T) -> String {
        withUnsafeBytes(of: &tuple) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
