/// One piece of a file an agent uploads (a `logs` reply), on its way gateway -> worker
/// (`jobs`, kind `callback.chunk`) -> registry (`blobs`, kind `content.chunk`). No process
/// ever holds a whole file: the gateway cuts the HTTP body into `size` bytes, every hop has a
/// small HWM, and the registry writes each chunk to its store as it comes.
///
/// Wire: `[kind][header JSON][bytes]`.
public struct ContentChunkHeader: Codable, Sendable, Equatable {
    public static let jobKind = "callback.chunk"
    public static let blobKind = "content.chunk"
    /// Chunk size the gateway cuts uploads into.
    public static let size = 256 * 1024

    public var requestId: String
    public var agentId: String
    /// Position of this chunk, from 0.
    public var index: Int
    /// True on the last chunk, which carries the totals.
    public var final: Bool
    /// The upload was cut off (too large, or the connection dropped): drop what came so far.
    public var aborted: Bool
    /// On the final chunk: the whole upload's size and SHA-256 (hex), computed by the gateway.
    public var totalBytes: UInt64?
    public var sha256: String?
    /// The file's name as the agent sent it.
    public var name: String?
    /// The upload attempt (one HTTP body) this chunk belongs to, made by the gateway. Two
    /// attempts for one request (an agent that retried while its first try still streamed)
    /// are kept apart, so one's abort cannot remove the other's chunks. Nil from a gateway
    /// older than this field: all its attempts share one.
    public var upload: String?

    public init(
        requestId: String, agentId: String, index: Int, final: Bool, aborted: Bool = false, totalBytes: UInt64? = nil,
        sha256: String? = nil, name: String? = nil, upload: String? = nil
    ) {
        self.requestId = requestId
        self.agentId = agentId
        self.index = index
        self.final = final
        self.aborted = aborted
        self.totalBytes = totalBytes
        self.sha256 = sha256
        self.name = name
        self.upload = upload
    }
}

/// The result of a completed `logs` request: what was stored, and how to check it.
public struct ContentSummary: Codable, Sendable, Equatable {
    public var name: String?
    public var bytes: UInt64
    public var sha256: String
    public var chunks: Int

    public init(name: String?, bytes: UInt64, sha256: String, chunks: Int) {
        self.name = name
        self.bytes = bytes
        self.sha256 = sha256
        self.chunks = chunks
    }
}

extension RegistryQuery {
    /// One stored chunk of a request's content: reply is the raw bytes.
    public struct Content: Codable, Sendable, Equatable {
        public static let kind = "content"
        public var requestId: String
        public var index: Int
        public init(requestId: String, index: Int) {
            self.requestId = requestId
            self.index = index
        }
    }
}
