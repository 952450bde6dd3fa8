import Testing

/// The two ways a test waits on a live system, and the only two: every other loop that polls
/// is one of these written by hand, and gets the error handling wrong one way or the other.
///
/// - `eventually`: something must come true. While it is not yet, an error from the condition
///   (a gateway restarting, a file half written) is "not yet" too; but if the deadline passes,
///   the last such error is recorded, so the failure says why instead of just "false".
/// - `never(within:)`: something must NOT happen for a whole window. Here an error can never
///   count as "did not happen" (a gateway answering 500 proves nothing about a flapping
///   record): it fails the wait at once, recorded with its error.
///
/// Both return the verdict for `#expect`/`#require`; neither is `@discardableResult`.

/// Polls `condition` every 50 ms until it holds (true) or `timeout` passes (false, with the
/// last error the condition threw, if any, recorded as an issue at the caller).
func eventually(
    timeout: Duration, sourceLocation: SourceLocation = #_sourceLocation, _ condition: () async throws -> Bool
) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    var lastError: (any Error)?
    while true {
        // Looked at once more after the deadline: a task that was not scheduled for a while
        // must not miss a condition that did come true in time.
        let late = ContinuousClock.now >= deadline
        do {
            if try await condition() { return true }
            lastError = nil
        } catch {
            lastError = error
        }
        if late { break }
        try? await Task.sleep(for: .milliseconds(50))
        if Task.isCancelled { return false }
    }
    if let lastError {
        Issue.record(lastError, "still failing when the \(timeout) wait ended", sourceLocation: sourceLocation)
    }
    return false
}

/// Polls `condition` every 50 ms for the whole of `window`: true if it never held. It fails
/// (false) the first time it holds, and the first time it throws, recording that error as an
/// issue at the caller: not being able to look is not seeing nothing.
///
/// - Parameter done: for a watch over something the test does meanwhile (`async let`): once
///   it returns true the condition is looked at once more and the watch ends early; `window`
///   is then the most it may take.
func never(
    within window: Duration, until done: @Sendable () -> Bool = { false }, sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async -> Bool {
    let start = ContinuousClock.now
    let deadline = start + window
    while true {
        let last = ContinuousClock.now >= deadline || done()
        do {
            if try await condition() { return false }
        } catch {
            Issue.record(error, "never(within: \(window)) could not look after \(ContinuousClock.now - start)", sourceLocation: sourceLocation)
            return false
        }
        if last { return true }
        try? await Task.sleep(for: .milliseconds(50))
        if Task.isCancelled { return false }
    }
}
