#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The shape of a Codable type's JSON, checked with ``JSONScanner`` instead of decoding it.
///
/// A shape says what the synthesized `Decodable` init of a type requires: which keys must be
/// there (non-optional properties), which may be missing or null (optionals), and the kind
/// of each value. Bytes a shape accepts decode with `FleetJSON.decode` (checked by the
/// decoder property tests), so a reader that decodes them later cannot fail on them; unknown
/// keys are allowed, as `Decodable` ignores them.
public indirect enum JSONShape: Sendable {
    /// A number that is finite as a `Double`.
    case number
    /// An integer in 0...UInt64.max.
    case unsigned
    case string
    /// A date in FleetJSON's dialect (ISO 8601).
    case date
    case bool
    case array(JSONShape)
    case object([JSONField])

    /// Checks a whole document against the shape; returns the values its fields tagged for capture.
    @discardableResult
    public func validate(_ bytes: some ContiguousBytes) throws(ProtocolError) -> JSONCaptures {
        var captures = JSONCaptures()
        let failure: JSONScanner.Failure? = bytes.withUnsafeBytes { buffer -> JSONScanner.Failure? in
            var scanner = JSONScanner(buffer)
            do throws(JSONScanner.Failure) {
                try check(&scanner, depth: 0, captures: &captures)
                scanner.skipSpace()
                guard scanner.atEnd else { throw scanner.fail("bytes after the JSON value") }
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw .malformed("\(failure)") }
        return captures
    }

    func check(_ scanner: inout JSONScanner, depth: Int, captures: inout JSONCaptures, capture: JSONCapture? = nil) throws(JSONScanner.Failure) {
        scanner.skipSpace()
        switch self {
        case .number:
            guard scanner.peek == UInt8(ascii: "-") || (scanner.peek >= UInt8(ascii: "0") && scanner.peek <= UInt8(ascii: "9")) else {
                throw scanner.fail("expected a number")
            }
            let number = try scanner.number()
            guard let value = scanner.double(number.range) else { throw scanner.fail("number out of range") }
            if let capture { captures.record(capture, value) }
        case .unsigned:
            guard scanner.peek >= UInt8(ascii: "0") && scanner.peek <= UInt8(ascii: "9") else { throw scanner.fail("expected an unsigned integer") }
            let number = try scanner.number()
            guard number.integer, let value = scanner.unsigned(number.range) else { throw scanner.fail("expected an unsigned integer") }
            if let capture { captures.record(capture, value) }
        case .string:
            guard scanner.peek == UInt8(ascii: "\"") else { throw scanner.fail("expected a string") }
            _ = try scanner.string()
        case .date:
            guard scanner.peek == UInt8(ascii: "\"") else { throw scanner.fail("expected a date string") }
            let string = try scanner.string()
            guard let date = FleetJSON.parseDate(scanner, string.content, escaped: string.escaped) else { throw scanner.fail("not an ISO 8601 date") }
            if capture == .timestamp { captures.timestamp = date }
        case .bool:
            let found = try scanner.value(depth: depth)
            guard found.kind == .bool else { throw scanner.fail("expected true or false") }
        case .array(let element):
            guard scanner.peek == UInt8(ascii: "[") else { throw scanner.fail("expected an array") }
            try scanner.array(depth: depth) { (inner: inout JSONScanner) throws(JSONScanner.Failure) in
                try element.check(&inner, depth: depth + 1, captures: &captures, capture: capture)
            }
        case .object(let fields):
            guard scanner.peek == UInt8(ascii: "{") else { throw scanner.fail("expected an object") }
            var seen: UInt64 = 0
            try scanner.object(depth: depth) { (inner: inout JSONScanner, key: Range<Int>, escaped: Bool) throws(JSONScanner.Failure) in
                guard let index = Self.field(named: key, escaped: escaped, in: fields, scanner: inner) else {
                    try inner.value(depth: depth + 1)  // unknown keys are ignored, but must be JSON
                    return
                }
                // A known key twice: decoders disagree on which one wins, so neither does.
                guard seen & (1 << UInt64(index)) == 0 else { throw inner.fail("duplicate key '\(fields[index].key)'") }
                seen |= 1 << UInt64(index)
                inner.skipSpace()
                if !fields[index].required, inner.peek == UInt8(ascii: "n") {
                    let found = try inner.value(depth: depth + 1)
                    guard found.kind == .null else { throw inner.fail("invalid literal") }
                    return
                }
                try fields[index].shape.check(&inner, depth: depth + 1, captures: &captures, capture: fields[index].capture)
            }
            for (index, field) in fields.enumerated() where field.required && seen & (1 << UInt64(index)) == 0 {
                throw scanner.fail("missing key '\(field.key)'")
            }
        }
    }

    private static func field(named key: Range<Int>, escaped: Bool, in fields: [JSONField], scanner: JSONScanner) -> Int? {
        if escaped {
            let text = scanner.text(key, escaped: true)
            return fields.firstIndex { $0.key == text }
        }
        return fields.firstIndex { scanner.equals(key, $0.name) }
    }
}

/// One key of an object shape.
public struct JSONField: Sendable {
    public let key: String
    let name: [UInt8]
    public let shape: JSONShape
    /// A non-optional property: the key must be there and not null.
    public let required: Bool

    /// A value the check hands back (the heartbeat path reads its few fields in the same pass).
    public let capture: JSONCapture?

    public init(_ key: String, _ shape: JSONShape, required: Bool = true, capture: JSONCapture? = nil) {
        precondition(!key.isEmpty)
        self.key = key
        self.name = Array(key.utf8)
        self.shape = shape
        self.required = required
        self.capture = capture
    }

    /// An optional property: missing or null decode as nil.
    public static func optional(_ key: String, _ shape: JSONShape, capture: JSONCapture? = nil) -> JSONField {
        JSONField(key, shape, required: false, capture: capture)
    }
}

/// The fields of a snapshot the heartbeat path needs, tagged in ``MetricsSnapshot/shape``.
public enum JSONCapture: Sendable, Equatable {
    case timestamp, seq, cpuPercent, memoryTotal, memoryAvailable, diskUsedPercent
}

/// What a shape check captured (a fixed set of slots: no allocation on the hot path).
public struct JSONCaptures: Sendable, Equatable {
    public var timestamp: Date?
    public var seq: UInt64?
    public var cpuPercent: Double?
    public var memoryTotal: UInt64?
    public var memoryAvailable: UInt64?
    /// The largest of the captured values (a snapshot lists several filesystems).
    public var diskUsedPercent: Double?

    public init() {}

    mutating func record(_ capture: JSONCapture, _ value: Double) {
        switch capture {
        case .cpuPercent: cpuPercent = value
        case .diskUsedPercent: diskUsedPercent = max(diskUsedPercent ?? value, value)
        default: break
        }
    }

    mutating func record(_ capture: JSONCapture, _ value: UInt64) {
        switch capture {
        case .seq: seq = value
        case .memoryTotal: memoryTotal = value
        case .memoryAvailable: memoryAvailable = value
        default: break
        }
    }
}

extension FleetJSON {
    /// A FleetJSON date from a string's content range: the agents' own form
    /// (`2026-11-28T16:04:52.123Z`, or without the fraction) is read directly; anything else
    /// goes through the same parsers as the decoder's date strategy.
    static func parseDate(_ scanner: JSONScanner, _ content: Range<Int>, escaped: Bool) -> Date? {
        if !escaped, let date = fastDate(UnsafeRawBufferPointer(rebasing: scanner.bytes[content])) { return date }
        return parseDate(scanner.text(content, escaped: escaped))
    }

    /// What the decoder's date strategy accepts, rounded as it rounds.
    public static func parseDate(_ text: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return milliseconds(date) }
        if let date = try? Date.ISO8601FormatStyle().parse(text) { return milliseconds(date) }
        return nil
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fff]Z` without Foundation's parser (the hot path's form).
    static func fastDate(_ bytes: UnsafeRawBufferPointer) -> Date? {
        guard bytes.count == 20 || bytes.count == 24, bytes[bytes.count - 1] == UInt8(ascii: "Z") else { return nil }
        func digits(_ at: Int, _ count: Int) -> Int? {
            var value = 0
            for index in at..<(at + count) {
                let byte = bytes[index]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
            bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            let year = digits(0, 4), let month = digits(5, 2), let day = digits(8, 2),
            let hour = digits(11, 2), let minute = digits(14, 2), let second = digits(17, 2),
            year >= 1, (1...12).contains(month), hour < 24, minute < 60, second < 60
        else { return nil }
        var milliseconds = 0
        if bytes.count == 24 {
            guard bytes[19] == UInt8(ascii: "."), let fraction = digits(20, 3) else { return nil }
            milliseconds = fraction
        }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard day >= 1, day <= monthDays[month - 1] else { return nil }
        // Days from civil (Howard Hinnant's algorithm), proleptic Gregorian, UTC.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second
        return Date(timeIntervalSince1970: Double(seconds * 1000 + milliseconds) / 1000)
    }
}
