import FleetProtocol
import NIOCore
import Synchronization

/// The heartbeats one event loop reads in one pass, handed to the outbox as one batch (one bus
/// message, ``HeartbeatBatch``) once the pass is over: the first beat of a pass schedules the
/// flush with `execute`, which NIO runs after the I/O events of the current loop iteration.
/// So a loop that woke for 300 sockets sends one message, not 300.
///
/// Confined to its event loop (reached through ``HeartbeatBatchers``), which also orders a
/// session's close after its beats: when a connection goes, its handler flushes this batcher on
/// the same loop before the close is announced, so the beats read before the close go first and
/// none can follow it.
final class HeartbeatBatcher {
    private let eventLoop: any EventLoop
    private let outbox: HeartbeatOutbox
    private var beats: [BusEvent.SessionHeartbeat] = []

    init(eventLoop: any EventLoop, outbox: HeartbeatOutbox) {
        self.eventLoop = eventLoop
        self.outbox = outbox
    }

    func add(_ beat: BusEvent.SessionHeartbeat) {
        beats.append(beat)
        if beats.count == 1 {
            let bound = NIOLoopBound(self, eventLoop: eventLoop)
            eventLoop.execute { bound.value.flush() }
        } else if beats.count >= HeartbeatBatch.maxBeats {
            flush()
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
