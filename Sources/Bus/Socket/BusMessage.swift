import ZeroMQ

/// One multipart message off a bus socket: its frames, and the sender's ZAP `User-Id`
/// (`role:name`) where the socket asks for it (the registry's `events`, with CURVE).
public struct BusMessage: Sendable, Equatable {
    public var frames: [[UInt8]]
    public var userId: String?

    public init(_ frames: [[UInt8]], userId: String? = nil) {
        self.frames = frames
        self.userId = userId
    }

    init(_ message: ZMQMessage) {
        self.frames = message.frames
        self.userId = message.userId
    }

    /// The frame at `index` as UTF-8 text, nil past the end.
    public func string(at index: Int) -> String? {
        index < frames.count ? String(decoding: frames[index], as: UTF8.self) : nil
    }
}

/// A bus socket's cumulative counters, for /metrics.
public struct BusStatistics: Sendable, Equatable {
    public var sent: UInt64
    public var received: UInt64
    /// Sends that found the high-water mark reached and had to wait.
    public var sendRetries: UInt64
    /// Messages given up by a non-waiting send at the high-water mark.
    public var dropped: UInt64

    init(_ statistics: ZMQSocket.Statistics) {
        sent = statistics.sent
        received = statistics.received
        sendRetries = statistics.sendRetries
        dropped = statistics.dropped
    }
}
