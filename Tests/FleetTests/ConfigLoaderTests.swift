import FleetSupport
import Foundation
import Testing

/// A small config with the same shapes as master.yaml / agent.yaml.
struct SampleConfig: Codable, Equatable {
    struct Server: Codable, Equatable {
        var host = "0.0.0.0"
        var port = 8080
        var wsPath = "/ws"
        enum CodingKeys: String, CodingKey {
            case host, port
            case wsPath = "ws_path"
        }
    }
    struct Heartbeat: Codable, Equatable {
        var timeout = 600.0
        var cleanupInterval = 300.0
        enum CodingKeys: String, CodingKey {
            case timeout
            case cleanupInterval = "cleanup_interval"
        }
    }
    var server = Server()
    var heartbeat = Heartbeat()
    var urls: [String] = []
    var labels: [String: String] = [:]
    struct Rule: Codable, Equatable {
        var name: String
        var above: Double
    }
    var rules: [Rule] = []
}

@Suite("Configuration loading")
struct ConfigLoaderTests {
    let loader = ConfigLoader(defaults: SampleConfig(), environmentPrefix: "TEST_")

    func write(_ yaml: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("no file: the defaults")
    func defaults() throws {
        #expect(try loader.load(file: nil) == SampleConfig())
    }

    @Test("a partial file keeps defaults for the rest")
    func partialFile() throws {
        let config = try loader.load(file: try write("server:\n  port: 9000\nlabels:\n  role: db\n"))
        #expect(config.server.port == 9000)
        #expect(config.server.host == "0.0.0.0")
        #expect(config.heartbeat.timeout == 600)
        #expect(config.labels == ["role": "db"])
    }

    @Test("environment over file, --set over environment")
    func layering() throws {
        let file = try write("server:\n  port: 9000\n  ws_path: /agents\n")
        let config = try loader.load(
            file: file,
            environment: ["TEST_SERVER_PORT": "9100", "TEST_HEARTBEAT_CLEANUP_INTERVAL": "5", "OTHER": "x", "TEST_LABELS_ZONE": "eu"],
            overrides: ["server.port=9200", "urls=[ws://a/ws, ws://b/ws]"]
        )
        #expect(config.server.port == 9200)
        #expect(config.server.wsPath == "/agents")
        #expect(config.heartbeat.cleanupInterval == 5)
        #expect(config.urls == ["ws://a/ws", "ws://b/ws"])
        #expect(config.labels == ["zone": "eu"])
    }

    @Test("unknown key: names the file, the key, its line and the likely intended key")
    func unknownKey() throws {
        let file = try write("server:\n  host: 0.0.0.0\n  prot: 9000\n")
        let error = try #require(throws: ConfigError.self) { try loader.load(file: file) }
        #expect(error.kind == .unknownKey)
        #expect(error.key == "server.prot")
        #expect(error.source == file)
        #expect(error.description.contains("line 3"))
        #expect(error.description.contains("did you mean 'server.port'"))
    }

    @Test("unknown top-level section")
    func unknownSection() throws {
        let file = try write("servers:\n  port: 1\n")
        let error = try #require(throws: ConfigError.self) { try loader.load(file: file) }
        #expect(error.key == "servers")
    }

    @Test("wrong type: names the key and where the value came from")
    func wrongType() throws {
        let file = try write("server:\n  port: eighty\n")
        let error = try #require(throws: ConfigError.self) { try loader.load(file: file) }
        #expect(error.kind == .wrongType)
        #expect(error.key == "server.port")
        #expect(error.source.hasPrefix(file))
        #expect(error.description.contains("integer"))

        let fromEnvironment = try #require(throws: ConfigError.self) {
            try loader.load(file: nil, environment: ["TEST_HEARTBEAT_TIMEOUT": "soon"])
        }
        #expect(fromEnvironment.key == "heartbeat.timeout")
        #expect(fromEnvironment.source == "environment variable TEST_HEARTBEAT_TIMEOUT")
    }

    @Test("a section given a scalar is a wrong type, not a crash")
    func sectionAsScalar() throws {
        let error = try #require(throws: ConfigError.self) { try loader.load(file: try write("server: 8080\n")) }
        #expect(error.kind == .wrongType)
        #expect(error.key == "server")
    }

    @Test("missing file")
    func missingFile() throws {
        let error = try #require(throws: ConfigError.self) { try loader.load(file: "/nonexistent/master.yaml") }
        #expect(error.kind == .missingFile)
        #expect(error.description.contains("/nonexistent/master.yaml"))
    }

    @Test("invalid YAML syntax")
    func syntax() throws {
        let error = try #require(throws: ConfigError.self) { try loader.load(file: try write("server: [unclosed\n")) }
        #expect(error.kind == .syntax)
    }

    @Test("unknown environment variable with our prefix, and a bad --set key")
    func unknownOverrides() throws {
        let environment = try #require(throws: ConfigError.self) {
            try loader.load(file: nil, environment: ["TEST_SERVR_PORT": "1"])
        }
        #expect(environment.kind == .unknownKey)
        #expect(environment.source == "environment variable TEST_SERVR_PORT")
        let flag = try #require(throws: ConfigError.self) { try loader.load(file: nil, overrides: ["server.prot=1"]) }
        #expect(flag.key == "server.prot")
        let malformed = try #require(throws: ConfigError.self) { try loader.load(file: nil, overrides: ["server.port"]) }
        #expect(malformed.kind == .invalidValue)
    }

    @Test("lists of mappings: items decode, and a key no field reads is an unknown key with its line")
    func listItems() throws {
        let good = try loader.load(file: try write("rules:\n  - {name: hot, above: 90}\n"))
        #expect(good.rules == [SampleConfig.Rule(name: "hot", above: 90)])
        let file = try write("rules:\n  - name: hot\n    above: 90\n  - name: cold\n    abvoe: 5\n    above: 1\n")
        let error = try #require(throws: ConfigError.self) { try loader.load(file: file) }
        #expect(error.kind == .unknownKey)
        #expect(error.key == "rules[1].abvoe")
        #expect(error.description.contains("line 5"), "\(error)")
    }

    @Test("an empty file is the defaults")
    func emptyFile() throws {
        #expect(try loader.load(file: try write("")) == SampleConfig())
    }
}
