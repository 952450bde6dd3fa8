import Foundation
import Synchronization

/// Every process the bench started (master roles, swarm processes), so an interrupted run
/// (Ctrl-C, `timeout`) does not leave masters behind to skew the next measurement.
public enum ChildProcesses {
    private static let pids = Mutex<Set<Int32>>([])
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    public static func add(_ pid: Int32) { _ = pids.withLock { $0.insert(pid) } }
    public static func remove(_ pid: Int32) { _ = pids.withLock { $0.remove(pid) } }

    /// On SIGINT or SIGTERM: SIGTERM every child, give them a moment, SIGKILL the rest, exit.
    /// Call once, early (the bench's harness does).
    public static func stopOnSignals() {
        guard sources.isEmpty else { return }
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                let all = pids.withLock { $0 }
                for pid in all { kill(pid, SIGTERM) }
                Thread.sleep(forTimeInterval: 2)
                for pid in all { kill(pid, SIGKILL) }
                FileHandle.standardError.write(Data("bench: interrupted; stopped \(all.count) child processes\n".utf8))
                exit(130)
            }
            source.resume()
            sources.append(source)
        }
    }
}
