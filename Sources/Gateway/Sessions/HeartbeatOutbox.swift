import Bus
import FleetProtocol
import Metrics
import Synchronization

/// Heartbeats on their way to the registry: overload is a state, not a failure (issue 13).
///
/// Normally a heartbeat goes out at once, with a send that never waits. When the bus queue to
/// the registry is full (the registry is behind), the newest heartbeat of each agent waits
/// here instead: latest wins, and each one replaced is counted in
/// `fleet_gateway_heartbeats_coalesced_total`. One task sends what waits as room appears. So a
/// session's read loop never waits on the bus for a heartbeat (pings, replies and closes keep
/// flowing), the memory this takes is bounded by the sessions on this gateway (one snapshot
/// each, at most `gateway.max_frame_bytes`), and every agent still gets a beat through as
/// often as the registry can take them. While heartbeats wait, `isBacklogged` is true and the
/// gateway refuses new sessions with 1013 (try again later), which agents back off on.
final class HeartbeatOutbox: Sendable {
    private struct State {
        /// The newest waiting heartbeat of each agent.
        var pending: [String: BusEvent.SessionHeartbeat] = [:]
    }

    private let state = Mutex(State())
    private let events: EventSender
    private let doorbell: AsyncStream<Void>
    private let ring: AsyncStream<Void>.Continuation
    private let coalesced = Counter(label: "fleet_gateway_heartbeats_coalesced_total")
    private let coalescedSoFar = Atomic<Int>(0)
    private let waiting = Gauge(label: "fleet_gateway_heartbeats_waiting")

    init(events: EventSender) {
        self.events = events
        (doorbell, ring) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        coalesced.increment(by: 0)  // exported from the start
        waiting.record(0)
    }

    /// Heartbeats replaced by a newer one of the same agent so far (what the counter shows).
    var coalescedCount: Int { coalescedSoFar.load(ordering: .relaxed) }

    /// Heartbeats waiting now.
    var waitingCount: Int { state.withLock { $0.pending.count } }

    /// Whether heartbeats are waiting for room on the bus: the registry is behind.
    var isBacklogged: Bool { state.withLock { !$0.pending.isEmpty } }

    /// Sends `beats` now, as ``HeartbeatBatch`` messages of at most `HeartbeatBatch.maxBeats`,
    /// if nothing waits and the bus has room; what does not fit waits (latest per agent).
    func submit(batch beats: [BusEvent.SessionHeartbeat]) {
        guard let gatewayId = beats.first?.gatewayId else { return }
        var sent = 0
        if state.withLock({ $0.pending.isEmpty }) {
            while sent < beats.count {
                let chunk = Array(beats[sent..<min(sent + HeartbeatBatch.maxBeats, beats.count)])
                guard events.offer(heartbeats: HeartbeatBatch(gatewayId: gatewayId, beats: chunk)) else { break }
                sent += chunk.count
            }
            if sent == beats.count { return }
        }
        let replaced = state.withLock { state in
            var replaced = 0
            for beat in beats[sent...] where state.pending.updateValue(beat, forKey: beat.agentId) != nil { replaced += 1 }
            return replaced
        }
        if replaced > 0 {
            coalesced.increment(by: Int64(replaced))
            coalescedSoFar.add(replaced, ordering: .relaxed)
        }
        ring.yield()
    }

    /// Sends what waits, as room appears, until cancelled.
    func run() async {
        var bells = doorbell.makeAsyncIterator()
        var pause = Duration.milliseconds(1)
        while !Task.isCancelled {
            // Taken out first (under the lock), so a newer beat that arrives meanwhile stays.
            let (batch, left) = state.withLock { state in
                let taken = Array(state.pending.values.prefix(HeartbeatBatch.maxBeats))
                for beat in taken { state.pending.removeValue(forKey: beat.agentId) }
                return (taken, state.pending.count)
            }
            waiting.record(batch.count + left)
            guard let gatewayId = batch.first?.gatewayId else {
                pause = .milliseconds(1)
                guard await bells.next() != nil else { return }
                continue
            }
            if events.offer(heartbeats: HeartbeatBatch(gatewayId: gatewayId, beats: batch)) {
                pause = .milliseconds(1)
                continue
            }
            // Still full: put them back unless newer ones came, and wait a little.
            state.withLock { state in
                for beat in batch where state.pending[beat.agentId] == nil { state.pending[beat.agentId] = beat }
            }
            do { try await Task.sleep(for: pause) } catch { return }
            pause = min(pause * 2, .milliseconds(50))
        }
    }

    func finish() { ring.finish() }
}
