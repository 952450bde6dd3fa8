/// A certificate, key or CA file that cannot be used, named by the setting that points at it
/// (`server.tls.cert`, `master.ca_file`, `--ca-file`…), so the message says what to fix.
public struct TLSFileError: Error, CustomStringConvertible, Sendable {
    /// The configuration key or flag the path came from.
    public let key: String
    public let path: String
    public let problem: String

    public init(key: String, path: String, problem: String) {
        self.key = key
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(key): \(problem) ('\(path)')" }
}
