/// Exponential backoff with full jitter (the AWS Architecture Blog's "Full Jitter"): the
/// n-th consecutive failure waits a uniformly random time in 0...min(cap, base * 2^n).
/// Randomness spreads a fleet's reconnects after a master restart instead of having
/// thousands of agents retry in lock-step (the seed retried every 5 s, all together).
public struct Backoff: Sendable, Equatable {
    public var base: Double
    public var cap: Double

    public init(base: Double, cap: Double) {
        self.base = base
        self.cap = cap
    }

    /// The upper bound of the wait after `failures` consecutive failures (0 = first retry).
    public func ceiling(failures: Int) -> Double {
        min(cap, base * Double(1 << min(max(failures, 0), 30)))
    }

    /// A wait, in seconds, drawn from 0...ceiling.
    public func delay<G: RandomNumberGenerator>(failures: Int, using generator: inout G) -> Double {
        Double.random(in: 0...ceiling(failures: failures), using: &generator)
    }

    public func delay(failures: Int) -> Double {
        var generator = SystemRandomNumberGenerator()
        return delay(failures: failures, using: &generator)
    }
}
