import Foundation
import Testing
import ZeroMQ

/// The two transports every wrapper test runs over.
enum Transport: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case tcp, inproc

    var testDescription: String { rawValue }

    /// An endpoint to bind: a free loopback port for tcp, a unique name for inproc.
    func bindEndpoint() -> String {
        switch self {
        case .tcp: "tcp://127.0.0.1:*"
        case .inproc: "inproc://test-\(UUID().uuidString)"
        }
    }
}

/// Reads batches from `receiver` until `predicate` holds for everything received, or the
/// deadline passes. Returns what was received.
func collect(
    from receiver: ZMQReceiver, timeout: Duration = .seconds(10),
    until predicate: @escaping @Sendable ([ZMQMessage]) -> Bool
) async throws -> [ZMQMessage] {
    try await withThrowingTaskGroup(of: [ZMQMessage]?.self) { group in
        group.addTask {
            var all: [ZMQMessage] = []
            for await batch in receiver {
                all.append(contentsOf: batch)
                if predicate(all) { return all }
            }
            return all
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        let first = try await group.next()!
        group.cancelAll()
        guard let result = first else {
            Issue.record("timed out after \(timeout) waiting for messages")
            return []
        }
        return result
    }
}

/// Names of this process's threads, from /proc/self/task/*/comm.
func threadNames() -> [String] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    return tasks.compactMap { tid in
        (try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
