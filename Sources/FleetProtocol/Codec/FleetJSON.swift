#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The one JSON dialect every side speaks: WebSocket frames, bus bodies and REST.
///
/// Dates are ISO 8601 with milliseconds (`2026-11-28T16:04:52.123Z`) so people can read
/// them and ordering within a second survives. Keys are camelCase, as in docs/protocol.md.
public enum FleetJSON {
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(format(date))
        }
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.withoutEscapingSlashes]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            // Rounded to the millisecond, the wire's precision: `.12345` would otherwise decode
            // to a value that encodes as `.123` and decodes unequal (found by the decoder
            // property tests), so a record would change by being passed on.
            if let date = try? iso8601.parse(text) { return milliseconds(date) }
            if let date = try? Date.ISO8601FormatStyle().parse(text) { return milliseconds(date) }
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ISO 8601 date: \(text)")
        }
        return decoder
    }

    private static let iso8601 = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    public static func milliseconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded() / 1000)
    }
    private static let iso8601Seconds = Date.ISO8601FormatStyle()

    /// `2026-11-28T16:04:52.123Z`, rounded to the millisecond. Built by hand because the
    /// format style truncates, and a double such as .123 is stored as .12299...
    public static func format(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var seconds = milliseconds / 1000
        var fraction = milliseconds % 1000
        if fraction < 0 {
            seconds -= 1
            fraction += 1000
        }
        let whole = Date(timeIntervalSince1970: Double(seconds)).formatted(iso8601Seconds)
        let digits = String(fraction)
        return String(whole.dropLast()) + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }

    /// Encodes `value` as compact JSON bytes.
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        Array(try encoder().encode(value))
    }

    public static func encodeString<T: Encodable>(_ value: T, pretty: Bool = false) throws -> String {
        String(decoding: try encoder(pretty: pretty).encode(value), as: UTF8.self)
    }

    /// Decodes bytes from anywhere (agents, operators, the bus): first refuses JSON nested
    /// deeper than `maxDepth`, then decodes.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: some Collection<UInt8>) throws -> T {
        let data = Data(bytes)
        try checkDepth(data)
        return try decoder().decode(type, from: data)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        let data = Data(text.utf8)
        try checkDepth(data)
        return try decoder().decode(type, from: data)
    }

    /// Deepest nesting of arrays and objects accepted. Foundation's decoder admits 512 levels
    /// but its encoder only 511, so a value decoded near the limit could never be sent on
    /// (a reply decoded by the worker failed to encode as a bus event, and again one level
    /// deeper inside a snapshot chunk); found by the decoder property tests. No fleet message
    /// nests deeper than about ten levels, so 64 leaves room for every re-embedding and keeps
    /// the recursive `JSONValue` decoding shallow.
    public static let maxDepth = 64

    /// One pass over the bytes counting `[`/`{` outside strings (no allocation).
    static func checkDepth(_ data: Data) throws {
        var depth = 0
        var inString = false
        var escaped = false
        let tooDeep: Bool = data.withUnsafeBytes { buffer in
            for byte in buffer {
                if inString {
                    if escaped {
                        escaped = false
                    } else if byte == UInt8(ascii: "\\") {
                        escaped = true
                    } else if byte == UInt8(ascii: "\"") {
                        inString = false
                    }
                    continue
                }
                switch byte {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    depth += 1
                    if depth > maxDepth { return true }
                case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
                default: break
                }
            }
            return false
        }
        if tooDeep {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "JSON nested deeper than \(maxDepth) levels"))
        }
    }
}
