import Synchronization

/// What the registry sends, in the order it was decided, from whichever task decided it to the
/// one task that publishes.
///
/// A queue taken whole rather than an AsyncStream read one item at a time: when what the
/// publisher takes holds request changes, the store writer commits first, in one transaction,
/// before any of it leaves the registry (group commit), so a request a gateway acknowledged, or a result a
/// client saw, is never lost to a registry crash, and no agent runs a request the registry could
/// forget and send again.
final class Outbox<Item: Sendable>: Sendable {
    private struct State {
        var items: [Item] = []
        var finished = false
    }
    private let state = Mutex(State())
    private let doorbell: AsyncStream<Void>
    private let ring: AsyncStream<Void>.Continuation

    init() {
        // One pending ring is enough: the taker empties the whole queue on each.
        (doorbell, ring) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues `item` after everything queued before it.
    func append(_ item: Item) {
        let accepted = state.withLock { state -> Bool in
            guard !state.finished else { return false }
            state.items.append(item)
            return true
        }
        if accepted { ring.yield() }
    }

    /// No more items: `take()` returns what is left, then nil.
    func finish() {
        state.withLock { $0.finished = true }
        ring.finish()
    }

    /// Everything queued so far, in order, waiting while there is nothing; nil once finished
    /// and empty. One taker only.
    func take() async -> [Item]? {
        var bells = doorbell.makeAsyncIterator()
        while true {
            let (items, finished) = state.withLock { state -> ([Item], Bool) in
                defer { state.items.removeAll(keepingCapacity: true) }
                return (state.items, state.finished)
            }
            if !items.isEmpty { return items }
            if finished { return nil }
            if await bells.next() == nil {
                // Finished while we waited: whatever was appended before is still there.
                let rest = state.withLock { state -> [Item] in
                    defer { state.items.removeAll() }
                    return state.items
                }
                return rest.isEmpty ? nil : rest
            }
        }
    }
}
