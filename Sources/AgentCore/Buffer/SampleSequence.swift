#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FleetSupport
import Synchronization

/// The agent's sample counter, increasing across restarts so a sample's (agent, seq) is
/// unique for ever, which is what lets the registry de-duplicate replays.
///
/// Persisting every increment would write the disk every heartbeat; instead a block of
/// 1,000 numbers is reserved on disk at a time. A restart skips the rest of the block: the
/// sequence stays increasing, with a gap.
public final class SampleSequence: Sendable {
    private let path: String
    private let state: Mutex<(next: UInt64, reservedUpTo: UInt64)>
    static let block: UInt64 = 1_000

    public init(path: String) {
        self.path = path
        let stored = TextFile.read(path).flatMap { UInt64($0.trimmingCharacters(in: "\n")) } ?? 0
        self.state = Mutex((stored + 1, stored))
    }

    /// For tests and the in-memory case: no file.
    public init(startingAfter value: UInt64) {
        self.path = ""
        self.state = Mutex((value + 1, UInt64.max))
    }

    public func next() -> UInt64 {
        state.withLock { state in
            let value = state.next
            state.next += 1
            if value > state.reservedUpTo {
                state.reservedUpTo = value + Self.block
                persist(state.reservedUpTo)
            }
            return value
        }
    }

    private func persist(_ value: UInt64) {
        guard !path.isEmpty else { return }
        // Best effort: if the state dir is not writable the numbers still increase in this run.
        try? AtomicFile.write("\(value)\n", to: path, mode: 0o600)
    }
}

extension String {
    func trimmingCharacters(in character: Character) -> String {
        self[...].trimmingCharacters(in: character)
    }
}
