import FleetProtocol
import NIOCore
import Synchronization

/// The heartbeats one event loop reads within ``linger``, handed to the outbox as one batch
/// (one bus message, ``HeartbeatBatch``): the first beat of a batch schedules its flush
/// `linger` later, and a batch that reaches `HeartbeatBatch.maxBeats` goes at once. So a loop
/// reading 2,500 beats a second sends ~50 messages, not 2,500.
///
/// Why a linger and not the loop's pass (what this did first): at a beat a second per agent a
/// loop wakes for one or two sockets at a time, so batches of a pass held 1-3 beats, and each
/// message woke libzmq's I/O threads and the registry's intake once (`finish_task_switch` was
/// the largest item of both profiles). A heartbeat is not urgent (the default interval is
/// 300 s): 20 ms later is nothing to liveness, and it is what makes the batches full.
///
/// Confined to its event loop (reached through ``HeartbeatBatchers``), which also orders a
/// session's close after its beats: when a connection goes, its handler flushes this batcher on
/// the same loop before the close is announced, so the beats read before the close go first and
/// none can follow it.
final class HeartbeatBatcher {
    private let eventLoop: any EventLoop
    private let outbox: HeartbeatOutbox
    private var beats: [BusEvent.SessionHeartbeat] = []
    /// Whether a timed flush is pending (one at a time: a batch flushed early by its size or
    /// by a closing connection leaves the timer to flush whatever came after it).
    private var flushScheduled = false
    /// How long the first beat of a batch waits for others.
    static let linger = TimeAmount.milliseconds(20)

    init(eventLoop: any EventLoop, outbox: HeartbeatOutbox) {
        self.eventLoop = eventLoop
        self.outbox = outbox
    }

    func add(_ beat: BusEvent.SessionHeartbeat) {
        beats.append(beat)
        if beats.count >= HeartbeatBatch.maxBeats {
            flush()
        } else if !flushScheduled {
            flushScheduled = true
            let bound = NIOLoopBound(self, eventLoop: eventLoop)
            eventLoop.scheduleTask(in: Self.linger) {
                bound.value.flushScheduled = false
                bound.value.flush()
            }
        }
    }

    func flush() {
        guard !beats.isEmpty else { return }
        let batch = beats
        beats = []
        beats.reserveCapacity(batch.count)
        outbox.submit(batch: batch)
    }
}

/// One ``HeartbeatBatcher`` per event loop, made on first use (a lookup per connection, not
/// per frame: the handler keeps its loop's batcher).
final class HeartbeatBatchers: Sendable {
    private let outbox: HeartbeatOutbox
    private let batchers = Mutex<[ObjectIdentifier: NIOLoopBound<HeartbeatBatcher>]>([:])

    init(outbox: HeartbeatOutbox) {
        self.outbox = outbox
    }

    /// The batcher of `eventLoop`; call it on that loop.
    func batcher(on eventLoop: any EventLoop) -> HeartbeatBatcher {
        let outbox = self.outbox
        return batchers.withLock { batchers in
            let key = ObjectIdentifier(eventLoop)
            if let bound = batchers[key] { return bound.value }
            let made = HeartbeatBatcher(eventLoop: eventLoop, outbox: outbox)
            batchers[key] = NIOLoopBound(made, eventLoop: eventLoop)
            return made
        }
    }
}
