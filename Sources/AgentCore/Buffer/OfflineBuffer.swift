#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FleetProtocol
import Synchronization

/// Samples taken while the master is unreachable: a bounded ring on disk (one small file
/// per sample, named by its sequence number), so an agent restart during an outage keeps
/// them too. Past `maxSamples` or `maxBytes` the oldest go first. Replayed after the next
/// welcome; the registry's store ignores samples it already has (same agent, seq and time),
/// so a replay cut short and sent again is counted once.
public final class OfflineBuffer: Sendable {
    public let directory: String
    public let maxSamples: Int
    public let maxBytes: Int
    private let lock = Mutex(())

    public init(directory: String, maxSamples: Int, maxBytes: Int) throws {
        self.directory = directory
        self.maxSamples = max(1, maxSamples)
        self.maxBytes = max(4096, maxBytes)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// Adds a sample, then trims the ring to its bounds.
    public func append(_ snapshot: MetricsSnapshot) {
        lock.withLock { _ in
            guard let bytes = try? FleetJSON.encode(snapshot) else { return }
            let name = String(format: "%020llu.json", snapshot.seq)
            let path = "\(directory)/\(name)"
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return }
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            trim()
        }
    }

    /// Buffered samples, oldest first, at most `limit`.
    public func oldest(_ limit: Int) -> [(file: String, snapshot: MetricsSnapshot)] {
        lock.withLock { _ in
            files().prefix(limit).compactMap { name in
                let path = "\(directory)/\(name)"
                guard let data = FileManager.default.contents(atPath: path),
                    let snapshot = try? FleetJSON.decode(MetricsSnapshot.self, from: Array(data))
                else {
                    unlink(path)  // unreadable: drop it rather than block the replay for ever
                    return nil
                }
                return (path, snapshot)
            }
        }
    }

    public func remove(_ paths: [String]) {
        lock.withLock { _ in for path in paths { unlink(path) } }
    }

    public var count: Int { lock.withLock { _ in files().count } }

    private func files() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
    }

    private func trim() {
        var names = files()
        var sizes = names.map { name -> Int in
            var info = stat()
            return stat("\(directory)/\(name)", &info) == 0 ? Int(info.st_size) : 0
        }
        var total = sizes.reduce(0, +)
        while !names.isEmpty && (names.count > maxSamples || total > maxBytes) {
            unlink("\(directory)/\(names.removeFirst())")
            total -= sizes.removeFirst()
        }
    }
}
