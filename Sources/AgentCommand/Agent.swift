import AgentCore
import ArgumentParser
import FleetSupport
import Foundation
import Logging
import ServiceLifecycle

/// `agent`: the fleet monitor's host daemon.
@main
struct Agent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Fleet monitor agent: reports this host's health and metrics to the master.",
        version: AgentService.version,
        subcommands: [Run.self]
    )
}

/// `agent run`: the daemon in the foreground (what the service manager starts).
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the agent in the foreground.")

    @Option(name: .shortAndLong, help: "YAML config file (see config/agent.yaml). Without it, built-in defaults.")
    var config: String?

    @Option(name: .customLong("set"), help: ArgumentHelp(
        "Override one key, e.g. --set metrics.interval=10 (repeatable).", valueName: "key=value"
    ))
    var overrides: [String] = []

    func run() async throws {
        let config: AgentConfig
        do {
            let loader = ConfigLoader(defaults: AgentConfig(), environmentPrefix: AgentConfig.environmentPrefix)
            let environment = ProcessInfo.processInfo.environment
            let first = try loader.load(file: self.config, environment: environment, overrides: overrides)
            // Settings the master changed at runtime (a config request) come back after a
            // restart, over everything else: they are the newest instruction. Another config
            // request, or removing <state_dir>/runtime.json, undoes them.
            let persisted = RuntimeSettings.persistedOverrides(at: first.runtimeOverridesPath)
            config = persisted.isEmpty ? first : try loader.load(file: self.config, environment: environment, overrides: overrides + persisted)
            try config.validate()
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("agent: \(error)\n".utf8))
            throw ExitCode(2)
        }
        do {
            try FleetLogging.bootstrap(.init(
                level: FleetLogging.level(config.logging.level) ?? .info, file: "\(config.resolvedLogDir)/agent.log",
                rotationSizeMB: config.logging.rotationSize, maxBackups: config.logging.maxBackups
            ))
        } catch {
            FileHandle.standardError.write(Data("agent: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let logger = Logger(label: "agent")
        let service: AgentService
        do {
            service = try AgentService(config: config, logger: logger)
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        logger.info("agent starting", metadata: [
            "id": "\(service.info.id)", "version": "\(AgentService.version)", "gateways": "\(config.gatewayURLs)",
        ])
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
        ))
        try await group.run()
    }
}
