/// When the gateway should hand freed memory back to the operating system.
///
/// Why: glibc keeps what a burst of connections freed (in the middle of its heaps, across its
/// per-thread arenas), so after thousands of agents leave the gateway's RSS stays near its
/// peak, the seed master's defect. `malloc_trim(0)` returns those pages (bench/RESULTS.md).
/// It walks every arena, so it runs only after a large fall in sessions, and only once the
/// count has stopped falling for a few seconds: the leaving sessions' tasks must have ended
/// and freed their memory first, or there is little to return.
struct MemoryTrim {
    /// Sessions at their highest since the last trim (or start).
    private var peak = 0
    private var last = 0
    private var steadyBeats = 0
    /// A fall smaller than this is not worth a trim.
    let minimumFall: Int
    /// Beats (seconds) without change after the fall.
    let settleBeats: Int

    init(minimumFall: Int = 500, settleBeats: Int = 3) {
        self.minimumFall = minimumFall
        self.settleBeats = settleBeats
    }

    /// Called with the current session count every beat; true when a trim is due: the count
    /// fell by at least `minimumFall` and at least half from its peak, then held still.
    mutating func shouldTrim(sessions: Int) -> Bool {
        steadyBeats = sessions == last ? steadyBeats + 1 : 0
        last = sessions
        peak = max(peak, sessions)
        guard peak - sessions >= minimumFall, sessions * 2 <= peak, steadyBeats >= settleBeats else { return false }
        peak = sessions
        return true
    }
}
