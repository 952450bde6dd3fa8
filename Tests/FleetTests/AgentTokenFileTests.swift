import AgentCore
import FleetSupport
import Foundation
import Testing

/// `master.token_file`: the agent's token from a mounted secret (compose, Kubernetes).
@Suite("Agent token file")
struct AgentTokenFileTests {
    func file(_ contents: String?) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)").path
        if let contents { try contents.write(toFile: path, atomically: true, encoding: .utf8) }
        return path
    }

    @Test("read when master.token is empty, without the newline `openssl rand -hex 32 > file` leaves")
    func reads() throws {
        var config = AgentConfig()
        config.master.tokenFile = try file("  0123abcd\n")
        try config.readTokenFile()
        #expect(config.master.token == "0123abcd")
    }

    @Test("a token given outright wins over the file (which is then not even read)")
    func tokenWins() throws {
        var config = AgentConfig()
        config.master.token = "given"
        config.master.tokenFile = try file(nil)
        try config.readTokenFile()
        #expect(config.master.token == "given")
    }

    @Test("a missing, empty or oversized file is a config error naming the key and the file")
    func errors() throws {
        for contents in [nil, "\n", String(repeating: "a", count: 5000)] {
            var config = AgentConfig()
            let path = try file(contents)
            config.master.tokenFile = path
            let error = try #require(throws: ConfigError.self) { try config.readTokenFile() }
            #expect(error.key == "master.token_file" && error.source == path, "\(error)")
        }
    }
}
