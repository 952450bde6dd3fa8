#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Synchronization

/// Logs refusals at most once per `interval` per kind of refusal, saying how many were not
/// logged in between: a peer retrying a refused handshake every 100 ms (libzmq's reconnect
/// interval), or flooding forbidden events, must not fill the disk or bury other lines.
/// The counters in /metrics count every refusal; the log only has to show that they happen.
public final class RefusalLog: Sendable {
    private let logger: Logger
    private let interval: Duration
    private let state = Mutex<[String: Entry]>([:])

    private struct Entry {
        var lastLogged: ContinuousClock.Instant
        var suppressed: Int
    }

    public init(logger: Logger, interval: Duration = .seconds(10)) {
        self.logger = logger
        self.interval = interval
    }

    /// Logs `message` (warning) unless one with the same `key` was logged within the interval.
    public func refused(_ key: String, _ message: @autoclosure () -> Logger.Message, metadata: Logger.Metadata = [:]) {
        let now = ContinuousClock.now
        let suppressed: Int? = state.withLock { entries in
            if var entry = entries[key], now - entry.lastLogged < interval {
                entry.suppressed += 1
                entries[key] = entry
                return nil
            }
            let previous = entries[key]?.suppressed ?? 0
            entries[key] = Entry(lastLogged: now, suppressed: 0)
            // Forget idle keys now and then, so a stream of distinct keys stays bounded.
            if entries.count > 1_000 { entries = entries.filter { now - $0.value.lastLogged < self.interval } }
            return previous
        }
        guard let suppressed else { return }
        var metadata = metadata
        if suppressed > 0 { metadata["suppressed"] = "\(suppressed)" }
        logger.warning(message(), metadata: metadata)
    }
}
