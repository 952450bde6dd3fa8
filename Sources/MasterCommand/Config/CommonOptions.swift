import ArgumentParser
import FleetSupport
import Foundation
import Logging

/// Options every role subcommand takes.
struct CommonOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "YAML config file (see config/master.yaml). Without it, built-in defaults.")
    var config: String?

    @Option(name: .customLong("set"), help: ArgumentHelp(
        "Override one key, e.g. --set server.port=9000 (repeatable; beats the file and the environment).",
        valueName: "key=value"
    ))
    var overrides: [String] = []

    @Option(help: ArgumentHelp(
        "Once listening, write a JSON file with the bound addresses (real ports when 0 or * was asked).",
        valueName: "path"
    ))
    var readyFile: String?

    /// Loads the configuration, exiting with a clear message and status 2 on any error.
    func loadConfig() throws -> MasterConfig {
        do {
            let loader = ConfigLoader(defaults: MasterConfig(), environmentPrefix: MasterConfig.environmentPrefix)
            let config = try loader.load(
                file: config, environment: ProcessInfo.processInfo.environment, overrides: overrides
            )
            try config.validate()
            return config
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("master: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    /// Sets up logging to stderr and `logging.file` (default `<data_dir>/logs/<role>.log`; `stderr`: stderr only),
    /// and the Prometheus metrics backend.
    func bootstrapLogging(_ config: MasterConfig, role: String) throws {
        Telemetry.bootstrap()
        // The data dir holds tokens, the reply secret and the store: 0700, whatever made it.
        do {
            try PrivateDirectory.ensure(config.dataDir)
        } catch {
            FileHandle.standardError.write(Data("master: data_dir: \(error)\n".utf8))
            throw ExitCode(2)
        }
        // "stderr" is stderr only: in a container the runtime keeps the log (`podman logs`),
        // and a file in the container's own layer would only fill it. (A file of that name is
        // `./stderr`.) Not "-": the environment layer reads values as YAML, where that is a list.
        let file: String? = switch config.logging.file {
        case "": "\(config.dataDir)/logs/\(role).log"
        case "stderr": nil
        default: config.logging.file
        }
        do {
            try FleetLogging.bootstrap(.init(
                level: FleetLogging.level(config.logging.level) ?? .info, file: file,
                rotationSizeMB: config.logging.rotationSize, maxBackups: config.logging.maxBackups
            ))
        } catch {
            FileHandle.standardError.write(Data("master: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}
