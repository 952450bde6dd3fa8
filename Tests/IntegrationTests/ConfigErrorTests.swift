import Foundation
import Testing

/// Each class of config error makes the real binaries exit non-zero with a message naming
/// the file and the key.
@Suite("Config errors end the process clearly", .serialized)
struct ConfigErrorTests {
    func run(_ binary: String, _ arguments: [String], files: [String: String] = [:]) async throws -> (Int32, String) {
        try await withCluster("config") { cluster in
            for (name, text) in files {
                try text.write(to: cluster.directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
            }
            let process = try cluster.start(binary, binary, arguments)
            let status = await process.waitForExit(timeout: .seconds(20))
            if status == nil { await process.stop() }
            return (status ?? -1, process.stderr)
        }
    }

    @Test("unknown key", arguments: [
        ("master", ["serve", "--config", "bad.yaml"], "server:\n  port: 8080\n  prot: 9\n", "server.prot"),
        ("agent", ["run", "--config", "bad.yaml"], "metrics:\n  intervall: 10\n", "metrics.intervall"),
    ])
    func unknownKey(binary: String, arguments: [String], yaml: String, key: String) async throws {
        let (status, stderr) = try await run(binary, arguments, files: ["bad.yaml": yaml])
        #expect(status == 2)
        #expect(stderr.contains("bad.yaml"), "\(stderr)")
        #expect(stderr.contains("'\(key)'"), "\(stderr)")
        #expect(stderr.contains("unknown key"), "\(stderr)")
    }

    @Test("wrong type", arguments: [
        ("master", ["serve", "--config", "bad.yaml"], "heartbeat:\n  timeout: ten minutes\n", "heartbeat.timeout"),
        ("agent", ["run", "--config", "bad.yaml"], "logging:\n  max_backups: [1, 2]\n", "logging.max_backups"),
    ])
    func wrongType(binary: String, arguments: [String], yaml: String, key: String) async throws {
        let (status, stderr) = try await run(binary, arguments, files: ["bad.yaml": yaml])
        #expect(status == 2)
        #expect(stderr.contains("bad.yaml"), "\(stderr)")
        #expect(stderr.contains("'\(key)'"), "\(stderr)")
    }

    @Test("missing file", arguments: ["master", "agent"])
    func missingFile(binary: String) async throws {
        let (status, stderr) = try await run(binary, [binary == "master" ? "serve" : "run", "--config", "nowhere.yaml"])
        #expect(status == 2)
        #expect(stderr.contains("nowhere.yaml") && stderr.contains("file not found"), "\(stderr)")
    }

    @Test("an environment variable with a wrong type names the variable")
    func environmentWrongType() async throws {
        try await withCluster("config-env") { cluster in
            let process = try cluster.start("master", "master", ["serve"], environment: ["FLEET_MASTER_SERVER_PORT": "eighty"])
            let status = await process.waitForExit(timeout: .seconds(20))
            #expect(status == 2)
            #expect(process.stderr.contains("FLEET_MASTER_SERVER_PORT") && process.stderr.contains("'server.port'"), "\(process.stderr)")
        }
    }
}
