/// A token bucket: `rate` tokens a second, at most `burst` saved up. A value, so each agent
/// session keeps its own in its read loop (no lock), and it is testable without sockets.
///
/// Why per agent: one agent (a bug, or a host someone took) sending far more than its
/// heartbeat cadence must cost that agent its frames, not the registry its throughput and
/// every other agent its latency.
struct TokenBucket: Sendable {
    let rate: Double
    let burst: Double
    private var tokens: Double
    private var last: ContinuousClock.Instant

    init(rate: Double, burst: Double, now: ContinuousClock.Instant = .now) {
        self.rate = rate
        self.burst = max(1, burst)
        self.tokens = max(1, burst)
        self.last = now
    }

    /// Takes one token if there is one.
    mutating func take(now: ContinuousClock.Instant = .now) -> Bool {
        let elapsed = now - last
        last = now
        tokens = min(burst, tokens + rate * Double(elapsed.components.seconds) + rate * Double(elapsed.components.attoseconds) / 1e18)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
