/// Little-endian fixed-width fields and length-prefixed byte strings, for the bus frames
/// that carry no JSON (zguide kvmsg: a binary header, an opaque body). Reading checks every
/// bound and fails with a `ProtocolError`; the bus is authenticated, but a bug on one side
/// must not crash the other.
public struct BinaryWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func u8(_ value: UInt8) { bytes.append(value) }

    public mutating func u16(_ value: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: value))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
    }

    public mutating func u32(_ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    public mutating func u64(_ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    public mutating func i64(_ value: Int64) { u64(UInt64(bitPattern: value)) }

    /// NaN stands for nil.
    public mutating func optionalDouble(_ value: Double?) { u64((value ?? .nan).bitPattern) }

    /// A string of at most 65,535 UTF-8 bytes, 16-bit length first (longer ones are cut:
    /// every string on the bus is an id or a kind, far shorter).
    public mutating func shortString(_ value: String) {
        let utf8 = value.utf8.prefix(Int(UInt16.max))
        u16(UInt16(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// Bytes of any length, 32-bit length first.
    public mutating func blob(_ value: [UInt8]) {
        u32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }
}

public struct BinaryReader {
    private let bytes: [UInt8]
    public private(set) var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var atEnd: Bool { offset >= bytes.count }
    public var remaining: Int { bytes.count - offset }

    private mutating func take(_ count: Int) throws(ProtocolError) -> Range<Int> {
        guard count >= 0, count <= bytes.count - offset else {
            throw .malformed("binary frame cut short at byte \(offset) (\(count) more expected, \(bytes.count - offset) left)")
        }
        defer { offset += count }
        return offset..<(offset + count)
    }

    public mutating func u8() throws(ProtocolError) -> UInt8 { bytes[try take(1).lowerBound] }

    public mutating func u16() throws(ProtocolError) -> UInt16 {
        let range = try take(2)
        return UInt16(bytes[range.lowerBound]) | UInt16(bytes[range.lowerBound + 1]) << 8
    }

    public mutating func u32() throws(ProtocolError) -> UInt32 {
        let range = try take(4)
        var value: UInt32 = 0
        for (shift, index) in range.enumerated() { value |= UInt32(bytes[index]) << UInt32(shift * 8) }
        return value
    }

    public mutating func u64() throws(ProtocolError) -> UInt64 {
        let range = try take(8)
        var value: UInt64 = 0
        for (shift, index) in range.enumerated() { value |= UInt64(bytes[index]) << UInt64(shift * 8) }
        return value
    }

    public mutating func i64() throws(ProtocolError) -> Int64 { Int64(bitPattern: try u64()) }

    public mutating func optionalDouble() throws(ProtocolError) -> Double? {
        let value = Double(bitPattern: try u64())
        return value.isNaN ? nil : value
    }

    public mutating func shortString() throws(ProtocolError) -> String {
        let count = Int(try u16())
        return String(decoding: bytes[try take(count)], as: UTF8.self)
    }

    public mutating func blob() throws(ProtocolError) -> [UInt8] {
        let count = Int(try u32())
        return Array(bytes[try take(count)])
    }
}
