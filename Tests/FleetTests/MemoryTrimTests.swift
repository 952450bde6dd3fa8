@testable import Gateway
import Testing

@Suite("Gateway memory trim: after a large fall in sessions, once it has settled")
struct MemoryTrimTests {
    /// Feeds one session count per beat; returns the beats (indexes) at which a trim was due.
    func trims(_ counts: [Int], minimumFall: Int = 500, settleBeats: Int = 3) -> [Int] {
        var trim = MemoryTrim(minimumFall: minimumFall, settleBeats: settleBeats)
        return counts.indices.filter { trim.shouldTrim(sessions: counts[$0]) }
    }

    @Test("10k agents leave: one trim, once the count has held still for the settle beats")
    func largeFall() {
        // Up to 10k, leaving over two beats, then quiet for a while.
        let counts = [0, 4_000, 10_000, 10_000, 5_000, 0] + Array(repeating: 0, count: 12)
        #expect(trims(counts) == [8])
    }

    @Test("small or partial falls do not trim")
    func smallFalls() {
        #expect(trims([1_000, 1_000, 700, 700, 700, 700, 700, 700]).isEmpty)        // fell 300
        #expect(trims([10_000, 9_000, 9_000, 9_000, 9_000, 9_000, 9_000]).isEmpty)  // fell 10%
    }
}
