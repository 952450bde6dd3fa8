import Synchronization

/// Token buckets by key (an agent id): for limits kept across connections, such as an
/// agent's callback replies, which arrive as separate HTTP requests. Buckets idle for a
/// minute are dropped, so the table holds only agents that are sending now.
final class BucketTable: Sendable {
    private struct State {
        var buckets: [String: (bucket: TokenBucket, used: ContinuousClock.Instant)] = [:]
        var lastPrune = ContinuousClock.now
    }

    private let state = Mutex(State())
    static let idleLimit: Duration = .seconds(60)

    /// Takes a token from `key`'s bucket (made full on first use).
    func take(_ key: String, rate: Double, burst: Double, now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { state in
            if now - state.lastPrune > Self.idleLimit {
                state.buckets = state.buckets.filter { now - $0.value.used <= Self.idleLimit }
                state.lastPrune = now
            }
            var entry = state.buckets[key] ?? (TokenBucket(rate: rate, burst: burst, now: now), now)
            let taken = entry.bucket.take(now: now)
            entry.used = now
            state.buckets[key] = entry
            return taken
        }
    }
}
