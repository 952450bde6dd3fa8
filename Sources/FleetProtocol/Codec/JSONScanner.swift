/// A validating scanner over JSON bytes (RFC 8259) that allocates nothing.
///
/// Why it exists (issue 13): a heartbeat's metrics snapshot used to be decoded by the gateway
/// only to be encoded again next to three ids, then decoded by the registry and by every
/// gateway's replica: a Codable pass costs 60-100 µs for a 1.2 KB snapshot, the whole heartbeat
/// budget several times over. The gateway now checks the agent's bytes once with this scanner
/// (and ``JSONShape``) and passes them on unchanged; readers decode them only when asked.
///
/// What it accepts is a subset of what Foundation's `JSONDecoder` accepts (a property test
/// checks it): strict RFC 8259 grammar, UTF-8 validated, no unpaired surrogate escapes, nesting
/// up to ``FleetJSON/maxDepth``, numbers finite as a `Double`.
public struct JSONScanner {
    public enum Kind: Sendable, Equatable {
        case object, array, string, number, bool, null
    }

    /// Where the scan failed and why; becomes a `ProtocolError.malformed`.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var offset: Int
        public var reason: String
        public var description: String { "\(reason) at byte \(offset)" }
    }

    let bytes: UnsafeRawBufferPointer
    /// The next byte to read.
    var index: Int

    init(_ bytes: UnsafeRawBufferPointer, from index: Int = 0) {
        self.bytes = bytes
        self.index = index
    }

    var atEnd: Bool { index >= bytes.count }

    func fail(_ reason: String) -> Failure { Failure(offset: index, reason: reason) }

    /// The byte at `index`, or 0 past the end (0 is never valid where a byte is expected).
    var peek: UInt8 { index < bytes.count ? bytes[index] : 0 }

    mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func expect(_ byte: UInt8) throws(Failure) {
        skipSpace()
        guard peek == byte else { throw fail("expected '\(Character(Unicode.Scalar(byte)))'") }
        index += 1
    }

    /// Validates one value of any kind; returns its kind and its byte range.
    @discardableResult
    mutating func value(depth: Int = 0) throws(Failure) -> (kind: Kind, range: Range<Int>) {
        skipSpace()
        let start = index
        switch peek {
        case UInt8(ascii: "{"):
            try object(depth: depth) { (scanner: inout JSONScanner, _: Range<Int>, _: Bool) throws(Failure) in
                try scanner.value(depth: depth + 1)
            }
            return (.object, start..<index)
        case UInt8(ascii: "["):
            try array(depth: depth) { (scanner: inout JSONScanner) throws(Failure) in try scanner.value(depth: depth + 1) }
            return (.array, start..<index)
        case UInt8(ascii: "\""):
            _ = try string()
            return (.string, start..<index)
        case UInt8(ascii: "t"):
            try literal("true")
            return (.bool, start..<index)
        case UInt8(ascii: "f"):
            try literal("false")
            return (.bool, start..<index)
        case UInt8(ascii: "n"):
            try literal("null")
            return (.null, start..<index)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            _ = try number()
            return (.number, start..<index)
        case 0 where atEnd:
            throw fail("unexpected end of JSON")
        default:
            throw fail("unexpected byte 0x\(String(peek, radix: 16))")
        }
    }

    /// Validates a whole document: one value, then only whitespace.
    mutating func document() throws(Failure) -> (kind: Kind, range: Range<Int>) {
        let found = try value()
        skipSpace()
        guard atEnd else { throw fail("bytes after the JSON value") }
        return found
    }

    /// Walks an object's members: `member` gets the scanner positioned at the value, the key's
    /// content range (between the quotes) and whether the key has escapes, and must consume
    /// the value.
    mutating func object(
        depth: Int, _ member: (inout JSONScanner, _ key: Range<Int>, _ escaped: Bool) throws(Failure) -> Void
    ) throws(Failure) {
        guard depth < FleetJSON.maxDepth else { throw fail("JSON nested deeper than \(FleetJSON.maxDepth) levels") }
        try expect(UInt8(ascii: "{"))
        skipSpace()
        if peek == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            skipSpace()
            guard peek == UInt8(ascii: "\"") else { throw fail("expected a key") }
            let key = try string()
            try expect(UInt8(ascii: ":"))
            try member(&self, key.content, key.escaped)
            skipSpace()
            switch peek {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return
            default: throw fail("expected ',' or '}'")
            }
        }
    }

    /// Walks an array's elements; `element` must consume one value.
    mutating func array(depth: Int, _ element: (inout JSONScanner) throws(Failure) -> Void) throws(Failure) {
        guard depth < FleetJSON.maxDepth else { throw fail("JSON nested deeper than \(FleetJSON.maxDepth) levels") }
        try expect(UInt8(ascii: "["))
        skipSpace()
        if peek == UInt8(ascii: "]") {
            index += 1
            return
        }
        while true {
            try element(&self)
            skipSpace()
            switch peek {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return
            default: throw fail("expected ',' or ']'")
            }
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw fail("unexpected end of JSON") }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
            throw fail("invalid literal")
        }
        index += count
    }

    /// A string, validated: escapes, no raw control characters, well-formed UTF-8, and `\u`
    /// surrogates only in pairs. Returns the range between the quotes.
    mutating func string() throws(Failure) -> (content: Range<Int>, escaped: Bool) {
        guard peek == UInt8(ascii: "\"") else { throw fail("expected a string") }
        index += 1
        let start = index
        var escaped = false
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                let content = start..<index
                index += 1
                return (content, escaped)
            case UInt8(ascii: "\\"):
                escaped = true
                try escape()
            case 0x00..<0x20:
                throw fail("control character in a string")
            case 0x20..<0x80:
                index += 1
            default:
                try utf8Sequence(lead: byte)
            }
        }
        throw fail("unterminated string")
    }

    private mutating func escape() throws(Failure) {
        index += 1  // the backslash
        switch peek {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            index += 1
        case UInt8(ascii: "u"):
            index += 1
            let unit = try hex4()
            if (0xD800..<0xDC00).contains(unit) {
                // A high surrogate must be followed by an escaped low one.
                guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                    throw fail("unpaired surrogate escape")
                }
                index += 2
                guard (0xDC00..<0xE000).contains(try hex4()) else { throw fail("unpaired surrogate escape") }
            } else if (0xDC00..<0xE000).contains(unit) {
                throw fail("unpaired surrogate escape")
            }
        default:
            throw fail("invalid escape")
        }
    }

    private mutating func hex4() throws(Failure) -> UInt16 {
        guard index + 4 <= bytes.count else { throw fail("unexpected end of JSON") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail("invalid \\u escape")
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }

    /// One multi-byte UTF-8 sequence (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
    private mutating func utf8Sequence(lead: UInt8) throws(Failure) {
        let count: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: count = 1
        case 0xE0:
            count = 2
            low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: count = 2
        case 0xED:
            count = 2
            high = 0x9F
        case 0xF0:
            count = 3
            low = 0x90
        case 0xF1...0xF3: count = 3
        case 0xF4:
            count = 3
            high = 0x8F
        default: throw fail("invalid UTF-8")
        }
        guard index + count < bytes.count else { throw fail("invalid UTF-8") }
        let second = bytes[index + 1]
        guard second >= low, second <= high else { throw fail("invalid UTF-8") }
        for offset in 1..<count {
            guard bytes[index + 1 + offset] & 0xC0 == 0x80 else { throw fail("invalid UTF-8") }
        }
        index += count + 1
    }

    /// A number in RFC 8259's grammar; returns its range and whether it is an integer
    /// (no fraction, no exponent).
    mutating func number() throws(Failure) -> (range: Range<Int>, integer: Bool) {
        let start = index
        var integer = true
        if peek == UInt8(ascii: "-") { index += 1 }
        switch peek {
        case UInt8(ascii: "0"): index += 1
        case UInt8(ascii: "1")...UInt8(ascii: "9"): digits()
        default: throw fail("invalid number")
        }
        if peek == UInt8(ascii: ".") {
            integer = false
            index += 1
            guard isDigit(peek) else { throw fail("invalid number") }
            digits()
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            integer = false
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            guard isDigit(peek) else { throw fail("invalid number") }
            digits()
        }
        return (start..<index, integer)
    }

    private mutating func digits() {
        while isDigit(peek) { index += 1 }
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    // MARK: Reading values out of a validated document

    /// Whether the bytes in `range` equal `name` (a key without escapes).
    func equals(_ range: Range<Int>, _ name: [UInt8]) -> Bool {
        guard range.count == name.count else { return false }
        for offset in 0..<name.count where bytes[range.lowerBound + offset] != name[offset] { return false }
        return true
    }

    /// The text of a string's content range (escapes resolved through Foundation's decoder
    /// when there are any: rare, and never on our agents' keys).
    func text(_ content: Range<Int>, escaped: Bool) -> String {
        let raw = UnsafeRawBufferPointer(rebasing: bytes[content])
        guard escaped else { return String(decoding: raw, as: UTF8.self) }
        let quoted = [UInt8(ascii: "\"")] + Array(raw) + [UInt8(ascii: "\"")]
        return (try? FleetJSON.decode(String.self, from: quoted)) ?? String(decoding: raw, as: UTF8.self)
    }

    /// A validated number's value as a Double, nil if not finite.
    func double(_ range: Range<Int>) -> Double? {
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else { return nil }
        return value
    }

    /// A validated integer's value as a UInt64, nil if negative or too large.
    func unsigned(_ range: Range<Int>) -> UInt64? {
        guard !range.isEmpty, bytes[range.lowerBound] != UInt8(ascii: "-") else { return nil }
        var value: UInt64 = 0
        for index in range {
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
            if overflow1 || overflow2 { return nil }
            value = sum
        }
        return value
    }
}
