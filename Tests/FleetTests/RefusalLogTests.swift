import FleetSupport
import Logging
import Synchronization
import Testing

/// Refusal logging is rate-limited per kind of refusal, and says how many lines it held back.
@Suite("Refusal log")
struct RefusalLogTests {
    final class Capture: Sendable {
        let lines = Mutex<[(message: String, metadata: Logger.Metadata)]>([])
    }

    struct CaptureHandler: LogHandler {
        let capture: Capture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            capture.lines.withLock { $0.append((event.message.description, event.metadata ?? [:])) }
        }
    }

    @Test("one line per key per interval, the next one counts what was suppressed; other keys are not held back")
    func rateLimited() async throws {
        let capture = Capture()
        let log = RefusalLog(logger: Logger(label: "test") { _ in CaptureHandler(capture: capture) }, interval: .milliseconds(300))
        for _ in 0..<50 { log.refused("events/unknown_key", "bus connection refused") }
        log.refused("jobs_out/role_not_allowed", "bus connection refused")
        #expect(capture.lines.withLock { $0.count } == 2, "the first of each key only")
        try await Task.sleep(for: .milliseconds(400))
        log.refused("events/unknown_key", "bus connection refused")
        let lines = capture.lines.withLock { $0 }
        #expect(lines.count == 3)
        #expect(lines.last?.metadata["suppressed"] == "49")
    }
}
