/// A frame or event that could not be understood. The connection that sent it stays up;
/// the sender gets an `error` frame with `code`.
public enum ProtocolError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Not JSON, or JSON of the wrong shape; the detail says where.
    case malformed(String)
    /// Well-formed but with a `"type"` this side does not know.
    case unknownType(String)
    /// A frame that is valid but not allowed now (e.g. a heartbeat before hello).
    case unexpected(String)

    public var code: String {
        switch self {
        case .malformed: "malformed"
        case .unknownType: "unknown_type"
        case .unexpected: "unexpected"
        }
    }

    public var description: String {
        switch self {
        case .malformed(let detail): "malformed message: \(detail)"
        case .unknownType(let type): "unknown message type '\(type)'"
        case .unexpected(let detail): "unexpected message: \(detail)"
        }
    }
}

extension DecodingError {
    /// A short, human-readable account of where decoding failed.
    public var fleetDescription: String {
        func path(_ context: Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "top level" : keys.joined(separator: ".")
        }
        switch self {
        case .typeMismatch(let type, let context): return "\(path(context)): expected \(type)"
        case .valueNotFound(let type, let context): return "\(path(context)): missing \(type) value"
        case .keyNotFound(let key, let context):
            let base = path(context)
            return "\(base == "top level" ? "" : base + ".")\(key.stringValue): required field missing"
        case .dataCorrupted(let context):
            return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(self)"
        }
    }
}
