#if os(macOS)
import Darwin

extension OSFacts {
    /// "macOS" and kern.osproductversion (e.g. "15.1").
    static func darwinVersion() -> String {
        var size = 0
        guard sysctlbyname("kern.osproductversion", nil, &size, nil, 0) == 0, size > 0 else { return "" }
        var buffer = [CChar](repeating: 0, count: size)
        guard sysctlbyname("kern.osproductversion", &buffer, &size, nil, 0) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
#endif
