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

/// The agent's stable id: created once, stored in `<state_dir>/agent-id`, reused for ever.
///
/// The seed derived its id from the host, so two agents on one host collided; a random id
/// per state directory makes two agents with different state dirs two agents, and keeps an
/// agent's identity across hostname changes and reinstalls that keep the state dir.
public enum AgentIdentity {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Returns the stored id, creating (and persisting, mode 0600) a new one on first run.
    public static func loadOrCreate(stateDir: String) throws -> String {
        let path = "\(stateDir)/agent-id"
        if let text = TextFile.read(path) {
            let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard AgentInfo.isValidID(id) else {
                throw Failure(description: "\(path) holds an invalid agent id '\(id.prefix(64))'; remove it to get a new one")
            }
            return id
        }
        do {
            try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
        } catch {
            throw Failure(description: "cannot create state directory \(stateDir): \(error)")
        }
        let id = UUID().uuidString.lowercased()
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot write \(temporary): errno \(errno)") }
        let line = Array("\(id)\n".utf8)
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        guard written == line.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw Failure(description: "cannot store agent id in \(path)")
        }
        return id
    }
}
