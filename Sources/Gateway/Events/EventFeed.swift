import Bus
import FleetProtocol
import Synchronization

/// Turns the replica's changes into fleet events, keeps the last `capacity` of them for
/// clients that resume with `Last-Event-ID`, and fans them out to connected SSE clients.
///
/// A client too slow to keep up (its buffer of `clientBuffer` events is full) is cut off
/// rather than slowing everyone: it reconnects with its last id and replays from the ring.
final class EventFeed: Sendable {
    private struct State {
        var ring: [FleetEvent] = []
        var start = 0
        var lastState: [String: AgentState] = [:]
        var lastRequestState: [String: RequestState] = [:]
        /// Metrics events so far, to number them.
        var metricsCount: UInt64 = 0
        var subscribers: [Int: AsyncStream<FleetEvent>.Continuation] = [:]
        var nextSubscriber = 0
    }

    private let state = Mutex(State())
    let capacity: Int
    let clientBuffer: Int

    init(capacity: Int = 10_000, clientBuffer: Int = 1_000) {
        self.capacity = capacity
        self.clientBuffer = clientBuffer
    }

    /// Called with each batch of replica changes, in order.
    func publish(_ changes: [CloneReplica.Change]) {
        state.withLock { state in
            var epoch = state.ring.last?.epoch ?? ""
            for change in changes {
                var event: FleetEvent?
                switch change {
                case .resynced(let newEpoch, let seq):
                    epoch = newEpoch
                    state.lastState = [:]
                    state.lastRequestState = [:]
                    event = FleetEvent(id: "\(newEpoch)-\(seq)", type: "reset", data: #"{"reason":"replica resynced"}"#, seq: seq, epoch: newEpoch)
                case .agent(let record, let seq):
                    let previous = state.lastState.updateValue(record.state, forKey: record.id)
                    let type = previous == record.state ? "agent.metrics" : "agent.\(record.state.rawValue)"
                    event = FleetEvent(
                        id: "\(epoch)-\(seq)", type: type, payload: .init(.agent(record)), seq: seq, epoch: epoch, tenant: record.tenantName
                    )
                case .metrics(let record, let entry, let seq):
                    // Metrics apart from state (issue 13): with nobody subscribed, a heartbeat's
                    // snapshot is not made an event at all (no ring entry, no allocation); a client
                    // that resumes after such a gap gets the state events it missed, and the
                    // agents' latest metrics from the API.
                    guard !state.subscribers.isEmpty else { continue }
                    // The metrics feed is not sequenced: its events are numbered after the state
                    // update they follow (`<epoch>-<seq>.<n>`), unique for Last-Event-ID.
                    state.metricsCount += 1
                    event = FleetEvent(
                        id: "\(epoch)-\(seq).\(state.metricsCount)", type: "agent.metrics", payload: .init(.metrics(record, entry)), seq: seq,
                        epoch: epoch, tenant: record.tenantName
                    )
                case .alert(let alert, let seq):
                    event = FleetEvent(
                        id: "\(epoch)-\(seq)", type: "alert.\(alert.state.rawValue)", payload: .init(.alert(alert)), seq: seq, epoch: epoch,
                        tenant: alert.tenant ?? Tenant.default
                    )
                case .request(let record, let seq):
                    let previous = state.lastRequestState.updateValue(record.state, forKey: record.id)
                    guard previous != record.state else { continue }
                    event = FleetEvent(
                        id: "\(epoch)-\(seq)", type: "request.\(record.state.rawValue)", payload: .init(.request(record)), seq: seq,
                        epoch: epoch, tenant: record.tenant ?? Tenant.default
                    )
                case .key, .credential:
                    // Access records are not fleet events (a key's digest is nobody's business).
                    continue
                }
                guard let event else { continue }
                append(event, to: &state)
                for (id, subscriber) in state.subscribers {
                    if case .dropped = subscriber.yield(event) {
                        subscriber.finish()
                        state.subscribers.removeValue(forKey: id)
                    }
                }
            }
        }
    }

    private func append(_ event: FleetEvent, to state: inout State) {
        if state.ring.count < capacity {
            state.ring.append(event)
        } else {
            state.ring[state.start] = event
            state.start = (state.start + 1) % capacity
        }
    }

    /// Subscribes; returns the events after `lastEventId` still in the ring (or a `reset`
    /// when it is unknown: too old, or from another registry run) and the live stream.
    func subscribe(after lastEventId: String?) -> (backlog: [FleetEvent], live: AsyncStream<FleetEvent>, cancel: @Sendable () -> Void) {
        let (stream, continuation) = AsyncStream.makeStream(of: FleetEvent.self, bufferingPolicy: .bufferingNewest(clientBuffer))
        let (id, backlog) = state.withLock { state -> (Int, [FleetEvent]) in
            let ordered = Array(state.ring[state.start...] + state.ring[..<state.start])
            var backlog: [FleetEvent] = []
            if let lastEventId {
                if let index = ordered.lastIndex(where: { $0.id == lastEventId }) {
                    backlog = Array(ordered[(index + 1)...])
                } else {
                    let current = ordered.last
                    backlog = [FleetEvent(
                        id: current?.id ?? "0-0", type: "reset",
                        data: #"{"reason":"Last-Event-ID is no longer available; reload the state"}"#,
                        seq: current?.seq ?? 0, epoch: current?.epoch ?? ""
                    )]
                }
            }
            state.nextSubscriber += 1
            state.subscribers[state.nextSubscriber] = continuation
            return (state.nextSubscriber, backlog)
        }
        let cancel: @Sendable () -> Void = { [weak self] in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
            continuation.finish()
        }
        return (backlog, stream, cancel)
    }

    var subscriberCount: Int { state.withLock { $0.subscribers.count } }
}
