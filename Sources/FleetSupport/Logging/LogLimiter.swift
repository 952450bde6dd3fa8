import Logging
import Synchronization

/// Lets at most `perInterval` log lines through per `interval`, then says once how many it
/// held back. For lines an outsider can cause (refused connections, bad credentials): a
/// flood of them must cost a counter, not the disk.
public final class LogLimiter: Sendable {
    private struct State {
        var windowStart = ContinuousClock.now
        var logged = 0
        var suppressed = 0
    }

    private let state = Mutex(State())
    private let perInterval: Int
    private let interval: Duration

    public init(perInterval: Int, interval: Duration) {
        self.perInterval = perInterval
        self.interval = interval
    }

    /// Logs at `level` unless this window's quota is spent.
    public func log(
        _ logger: Logger, level: Logger.Level = .warning, _ message: @autoclosure () -> Logger.Message,
        metadata: @autoclosure () -> Logger.Metadata? = nil
    ) {
        let now = ContinuousClock.now
        let (allowed, heldBack) = state.withLock { state -> (Bool, Int) in
            var heldBack = 0
            if now - state.windowStart >= interval {
                heldBack = state.suppressed
                state = State(windowStart: now)
            }
            guard state.logged < perInterval else {
                state.suppressed += 1
                return (false, heldBack)
            }
            state.logged += 1
            return (true, heldBack)
        }
        if heldBack > 0 {
            logger.log(level: level, "\(heldBack) similar lines were not logged in the last \(interval)")
        }
        if allowed { logger.log(level: level, message(), metadata: metadata()) }
    }
}
