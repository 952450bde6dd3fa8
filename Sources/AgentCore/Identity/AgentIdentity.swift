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
import FleetSupport
import FleetProtocol
import FleetSupport

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
        do {
            try AtomicFile.write("\(id)\n", to: path, mode: 0o600)
        } catch {
            throw Failure(description: "cannot store agent id: \(error)")
        }
        return id
    }
}
