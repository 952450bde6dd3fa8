#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The registry's SQLite store as the registry sees it (in the `peers` answer, so every
/// gateway's /readyz shows it): whether writes land, and what it found at start.
public struct StoreStatus: Codable, Sendable, Equatable {
    /// The last write landed (or none failed yet).
    public var ok: Bool
    /// The last write's error while failing.
    public var error: String?
    /// When writes began failing (nil while ok).
    public var failingSince: Date?
    /// Rows waiting to be written, the failed batch included.
    public var pendingRows: Int
    /// Set for a while after a start that found the store file corrupt: where it went.
    public var corrupt: Corrupt?

    public struct Corrupt: Codable, Sendable, Equatable {
        /// Where the corrupt file was moved (never deleted: it may still be salvaged).
        public var movedTo: String
        public var at: Date
        /// What the check reported.
        public var reason: String
        public init(movedTo: String, at: Date, reason: String) {
            self.movedTo = movedTo
            self.at = at
            self.reason = reason
        }
    }

    public init(ok: Bool, error: String? = nil, failingSince: Date? = nil, pendingRows: Int, corrupt: Corrupt? = nil) {
        self.ok = ok
        self.error = error
        self.failingSince = failingSince
        self.pendingRows = pendingRows
        self.corrupt = corrupt
    }
}
