import Foundation
import Testing

@Suite("Agent process lifecycle", .serialized)
struct AgentLifecycleTests {
    @Test("SIGTERM while waiting to reconnect exits at once and cleanly")
    func exitsDuringBackoff() async throws {
        try await withCluster("agent-exit") { cluster in
            // Nothing listens on port 1: every attempt fails and the agent sits in its backoff.
            let process = try cluster.start("agent", "agent", [
                "run", "--set", "master.url=ws://127.0.0.1:1/ws", "--set", "agent.state_dir=state",
                "--set", "logging.dir=logs", "--set", "connection.backoff_base=30", "--set", "connection.backoff_cap=60",
            ])
            let waiting = await eventually(timeout: .seconds(10)) { process.stderr.contains("reconnecting") }
            #expect(waiting, "\(process.stderr)")
            process.signal(SIGTERM)
            let status = await process.waitForExit(timeout: .seconds(5))
            #expect(status == 0, "exit status \(String(describing: status))\n\(process.stderr)")
        }
    }
}
