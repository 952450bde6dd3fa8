/// One ZeroMQ message: one or more frames, delivered atomically.
///
/// Frames are plain byte arrays so this module does not need Foundation; the codec
/// above it decides what the bytes mean.
public struct ZMQMessage: Sendable, Equatable {
    public var frames: [[UInt8]]
    /// The ZAP `User-Id` of the connection the message came on: who the context's ZAP
    /// handler said the peer is (with CURVE, the owner of the client key it admitted). Read
    /// only on sockets that ask for it (`ZMQSocket.setReceivesUserId`); nil elsewhere, on
    /// sent messages, and where no ZAP handler was asked (inproc, no security).
    public var userId: String?

    public init(_ frames: [[UInt8]], userId: String? = nil) {
        self.frames = frames
        self.userId = userId
    }

    /// Builds a message from UTF-8 strings (handy for topics and tests).
    public init(strings: [String]) {
        self.frames = strings.map { Array($0.utf8) }
    }

    /// The frame at `index` decoded as UTF-8, or nil when there is no such frame.
    public func string(at index: Int) -> String? {
        guard frames.indices.contains(index) else { return nil }
        return String(decoding: frames[index], as: UTF8.self)
    }

    /// Total payload size in bytes.
    public var byteCount: Int { frames.reduce(0) { $0 + $1.count } }
}
