/// A configuration problem, phrased for the operator who has to fix it: which file (or
/// environment variable, or flag), which key, and what is wrong.
public struct ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        case missingFile = "missing file"
        case unreadable = "unreadable"
        case syntax = "syntax"
        case unknownKey = "unknown key"
        case wrongType = "wrong type"
        case invalidValue = "invalid value"
    }

    public var kind: Kind
    /// Where the offending value came from: a file path, `environment variable X`, `--set`.
    public var source: String
    /// Dotted key path (`server.port`), when the problem is about one key.
    public var key: String?
    public var message: String

    public init(kind: Kind, source: String, key: String? = nil, message: String) {
        self.kind = kind
        self.source = source
        self.key = key
        self.message = message
    }

    public var description: String {
        if let key {
            "config error in \(source): key '\(key)': \(message)"
        } else {
            "config error in \(source): \(message)"
        }
    }
}
