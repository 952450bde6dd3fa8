/// One ZeroMQ message: one or more frames, delivered atomically.
///
/// Frames are plain byte arrays so this module does not need Foundation; the codec
/// above it decides what the bytes mean.
public struct ZMQMessage: Sendable, Equatable {
    public var frames: [[UInt8]]

    public init(_ frames: [[UInt8]]) {
        self.frames = frames
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
