#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the master can ask an agent to do (DESIGN.md section 3).
public enum CallbackKind: String, Codable, Sendable, CaseIterable {
    /// Collect metrics now and send them.
    case status
    /// Send a file from the agent's log directory.
    case logs
    /// Apply intervals / log level at runtime and persist them.
    case config
    /// Run a command on the agent's allow-list.
    case exec
    /// Restart the agent process.
    case restart
}

/// Where a request is in its life.
public enum RequestState: String, Codable, Sendable, CaseIterable {
    /// Created; its agent is not connected, so it waits (until its deadline).
    case pending
    /// Sent to the agent's gateway; waiting for the agent's reply.
    case dispatched
    /// The agent replied and a worker processed the result.
    case completed
    /// No usable result by the deadline after every attempt, or the agent reported failure.
    case failed

    public var isFinal: Bool { self == .completed || self == .failed }
}

/// The registry's record of one request: replicated to every gateway (Clone, topic
/// `request.<id>`) so any gateway answers `GET /api/v1/requests/{id}`.
public struct RequestRecord: Codable, Sendable, Equatable {
    public var id: String
    public var agentId: String
    public var kind: CallbackKind
    public var args: JSONValue
    public var state: RequestState
    /// Times the command was sent to the agent; re-sent (same id) when an attempt times out.
    public var attempts: Int
    public var maxAttempts: Int
    public var createdAt: Date
    /// When the current attempt gives up.
    public var attemptDeadline: Date?
    public var completedAt: Date?
    /// The processed result (status: a MetricsSnapshot; exec: exit code and output; ...).
    public var result: JSONValue?
    /// Why the request failed, in words.
    public var error: String?
    /// Replies that arrived after the first (ignored, counted).
    public var duplicateReplies: Int
    /// SHA-256 (hex) of the request's reply token: enough for any gateway to check a reply,
    /// useless for forging one.
    public var replyTokenSHA256: String?
    /// The agent's tenant when the request was made (what tenant-scoped keys filter on).
    public var tenant: String?

    public init(id: String, agentId: String, kind: CallbackKind, args: JSONValue, maxAttempts: Int, createdAt: Date) {
        self.id = id
        self.agentId = agentId
        self.kind = kind
        self.args = args
        self.state = .pending
        self.attempts = 0
        self.maxAttempts = maxAttempts
        self.createdAt = createdAt
        self.duplicateReplies = 0
    }
}

/// `POST /api/v1/agents/{id}/callbacks` body.
public struct CallbackRequestBody: Codable, Sendable, Equatable {
    public var kind: CallbackKind
    public var args: JSONValue?

    public init(kind: CallbackKind, args: JSONValue? = nil) {
        self.kind = kind
        self.args = args
    }
}

/// `202` answer to a callback request made without `?wait`.
public struct CallbackAccepted: Codable, Sendable, Equatable {
    public var requestId: String
    public init(requestId: String) { self.requestId = requestId }
}
