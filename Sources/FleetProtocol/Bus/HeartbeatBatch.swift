#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The heartbeats one gateway read in one pass of an event loop, as one bus message:
/// `[session.heartbeats][gateway][body]`, the body per heartbeat its session and agent ids
/// (16-bit length first), the 40-byte meta of ``BusEvent/SessionHeartbeat`` and the snapshot
/// (32-bit length first). One message for many beats is one libzmq pipe write and, at the
/// registry, one receive instead of one per agent: per-message wake-ups and thread switches
/// were most of what a heartbeat cost once JSON was gone (bench/RESULTS.md).
public struct HeartbeatBatch: Sendable, Equatable {
    public var gatewayId: String
    public var beats: [BusEvent.SessionHeartbeat]

    public static let kind = "session.heartbeats"
    /// Beats per message at most (~80 KB): a message is held whole in memory at both ends,
    /// and queues count messages, not bytes (`BusTuning.heartbeatLaneHighWaterMark`).
    public static let maxBeats = 64
    /// What a decoder accepts (room for a peer that batches more).
    public static let maxBeatsDecoded = 1024

    public init(gatewayId: String, beats: [BusEvent.SessionHeartbeat]) {
        self.gatewayId = gatewayId
        self.beats = beats
    }

    public func frames() -> [[UInt8]] {
        var body = BinaryWriter(capacity: beats.reduce(0) { $0 + $1.metrics.bytes.count + 128 })
        for beat in beats {
            body.shortString(beat.sessionId)
            body.shortString(beat.agentId)
            beat.writeMeta(into: &body)
            body.blob(beat.metrics.bytes)
        }
        return [Array(Self.kind.utf8), Array(gatewayId.utf8), body.bytes]
    }

    public init(frames: [[UInt8]]) throws(ProtocolError) {
        guard frames.count == 3 else { throw .malformed("\(Self.kind) with \(frames.count) frames, expected 3") }
        let gatewayId = String(decoding: frames[1], as: UTF8.self)
        var body = BinaryReader(frames[2])
        var beats: [BusEvent.SessionHeartbeat] = []
        while !body.atEnd {
            guard beats.count < Self.maxBeatsDecoded else { throw .malformed("\(Self.kind) with more than \(Self.maxBeatsDecoded) heartbeats") }
            let sessionId = try body.shortString()
            let agentId = try body.shortString()
            let (seq, time, vitals) = try BusEvent.SessionHeartbeat.readMeta(&body)
            let snapshot = try body.blob()
            beats.append(BusEvent.SessionHeartbeat(
                gatewayId: gatewayId, sessionId: sessionId, agentId: agentId,
                metrics: RawSnapshot(trusted: snapshot, timestamp: time, seq: seq), vitals: vitals
            ))
        }
        self.init(gatewayId: gatewayId, beats: beats)
    }
}

extension BusEvent {
    /// Decodes a message received on the `events` socket into its events: one, or a batch's
    /// heartbeats (``HeartbeatBatch``), each as the `.heartbeat` it stands for.
    public static func all(frames: [[UInt8]]) throws -> [BusEvent] {
        if let first = frames.first, first.elementsEqual(HeartbeatBatch.kind.utf8) {
            return try HeartbeatBatch(frames: frames).beats.map { .heartbeat($0) }
        }
        return [try BusEvent(frames: frames)]
    }
}
