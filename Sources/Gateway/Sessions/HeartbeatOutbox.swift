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

    /// Sends `beat` now if nothing waits and the bus has room; else keeps it (replacing an
    /// older one of the same agent).
    func submit(_ beat: BusEvent.SessionHeartbeat) {
        let direct = state.withLock { $0.pending.isEmpty }
        if direct, events.offer(.heartbeat(beat)) { return }
        let replaced = state.withLock { state in state.pending.updateValue(beat, forKey: beat.agentId) != nil }
        if replaced {
            coalesced.increment()
            coalescedSoFar.add(1, ordering: .relaxed)
        }
        ring.yield()
    }

    /// A session ends: its waiting heartbeat must not reach the registry after the close
    /// (a beat on a closed session would bring the agent back online there).
    func forget(sessionId: String, agentId: String) {
        state.withLock { state in
            if state.pending[agentId]?.sessionId == sessionId { state.pending.removeValue(forKey: agentId) }
        }
    }

    /// Sends what waits, as room appears, until cancelled.
    func run() async {
        var bells = doorbell.makeAsyncIterator()
        var pause = Duration.milliseconds(1)
        while !Task.isCancelled {
            let batch = state.withLock { state in Array(state.pending.values.prefix(256)) }
            waiting.record(batch.count)
            guard !batch.isEmpty else {
                pause = .milliseconds(1)
                guard await bells.next() != nil else { return }
                continue
            }
            var sent = 0
            for beat in batch {
                // Taken out first (under the lock), so a newer beat that arrives meanwhile stays.
                let current = state.withLock { state -> Bool in
                    guard state.pending[beat.agentId]?.sessionId == beat.sessionId, state.pending[beat.agentId]?.metrics.seq == beat.metrics.seq
                    else { return false }
                    state.pending.removeValue(forKey: beat.agentId)
                    return true
                }
                guard current else { continue }
                if events.offer(.heartbeat(beat)) {
                    sent += 1
                    continue
                }
                // Still full: put it back unless a newer one came, and wait a little.
                state.withLock { state in
                    if state.pending[beat.agentId] == nil { state.pending[beat.agentId] = beat }
                }
                break
            }
            if sent == 0 {
                do { try await Task.sleep(for: pause) } catch { return }
                pause = min(pause * 2, .milliseconds(50))
            } else {
                pause = .milliseconds(1)
            }
        }
    }

    func finish() { ring.finish() }
}
