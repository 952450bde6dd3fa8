import Histogram

/// Cumulative counters of one swarm process (or, summed, of the whole simulated fleet).
struct SwarmProgress: Codable, Sendable {
    var online = 0
    var welcomes = 0
    var disconnects = 0
    var sessionsLost = 0
    var connectFailures = 0
    var upgradeFailures = 0
    var handshakeTimeouts = 0
    var errorFrames = 0
    var heartbeats = 0
    var callbacks = 0
    var replies = 0
    var replyFailures = 0
    var uploadedBytes = 0

    static func + (a: SwarmProgress, b: SwarmProgress) -> SwarmProgress {
        SwarmProgress(
            online: a.online + b.online, welcomes: a.welcomes + b.welcomes, disconnects: a.disconnects + b.disconnects,
            sessionsLost: a.sessionsLost + b.sessionsLost,
            connectFailures: a.connectFailures + b.connectFailures, upgradeFailures: a.upgradeFailures + b.upgradeFailures,
            handshakeTimeouts: a.handshakeTimeouts + b.handshakeTimeouts,
            errorFrames: a.errorFrames + b.errorFrames, heartbeats: a.heartbeats + b.heartbeats, callbacks: a.callbacks + b.callbacks,
            replies: a.replies + b.replies, replyFailures: a.replyFailures + b.replyFailures, uploadedBytes: a.uploadedBytes + b.uploadedBytes
        )
    }
}

/// One line from a swarm process to the orchestrator.
struct SwarmMessage: Codable, Sendable {
    var type: String
    var progress: SwarmProgress?
    /// Handshake latencies in µs (TCP connect to `welcome`), for `histogram`.
    var handshakes: Histogram<UInt64>?

    static func progress(_ progress: SwarmProgress) -> SwarmMessage {
        SwarmMessage(type: "progress", progress: progress)
    }
}
