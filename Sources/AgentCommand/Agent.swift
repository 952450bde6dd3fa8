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
        subcommands: [Run.self, Install.self, Uninstall.self, Start.self, Stop.self, Restart.self, Status.self]
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
        var config: AgentConfig
        do {
            let loader = ConfigLoader(defaults: AgentConfig(), environmentPrefix: AgentConfig.environmentPrefix)
            let environment = ProcessInfo.processInfo.environment
            let first = try loader.load(file: self.config, environment: environment, overrides: overrides)
            // Settings the master changed at runtime (a config request) come back after a
            // restart, over everything else: they are the newest instruction. Another config
            // request, or removing <state_dir>/runtime.json, undoes them.
            let persisted = RuntimeSettings.persistedOverrides(at: first.runtimeOverridesPath)
            config = persisted.isEmpty ? first : try loader.load(file: self.config, environment: environment, overrides: overrides + persisted)
            try config.readTokenFile()
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
        } catch let error as ConfigError {
            // An unusable master.ca_file / cert_file / key_file: a config error like any other.
            FileHandle.standardError.write(Data("agent: \(error)\n".utf8))
            throw ExitCode(2)
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

/// Options of the service subcommands.
struct ServiceOptions: ParsableArguments {
    @Option(help: "Install under this directory instead of / (files only; the service manager is not touched).")
    var root: String?

    @Option(help: "Service name (also the binary's and directories' name).")
    var name = "fleet-agent"

    var installer: ServiceInstaller {
        ServiceInstaller(layout: ServiceLayout(root: root ?? "", name: name))
    }

    func report(_ lines: [String]) {
        for line in lines { print(line) }
    }

    func fail(_ error: any Error) -> ExitCode {
        FileHandle.standardError.write(Data("agent: \(error)\n".utf8))
        return ExitCode(1)
    }
}

/// `agent install`: binary, config (0600), state and log directories, service definition.
struct Install: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Install the agent as a system service (systemd, launchd).")
    @OptionGroup var service: ServiceOptions
    @Option(name: .shortAndLong, help: "Config file to install (default: a template to fill in).")
    var config: String?

    func run() throws {
        do {
            let binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            service.report(try service.installer.install(binary: binary, config: config))
        } catch {
            throw service.fail(error)
        }
    }
}

/// `agent uninstall`: removes the service and the binary; config and state stay unless --purge.
struct Uninstall: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove the agent service (config and state kept unless --purge).")
    @OptionGroup var service: ServiceOptions
    @Flag(help: "Also remove the config, the state (the agent id) and the logs.")
    var purge = false

    func run() throws {
        do {
            service.report(try service.installer.uninstall(purge: purge))
        } catch {
            throw service.fail(error)
        }
    }
}

/// `agent start|stop|restart|status`: through the service manager.
struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start the installed service.")
    @OptionGroup var service: ServiceOptions
    func run() throws { try Control.run(service, "start") }
}

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop the installed service.")
    @OptionGroup var service: ServiceOptions
    func run() throws { try Control.run(service, "stop") }
}

struct Restart: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Restart the installed service.")
    @OptionGroup var service: ServiceOptions
    func run() throws { try Control.run(service, "restart") }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the installed service's status.")
    @OptionGroup var service: ServiceOptions
    func run() throws { try Control.run(service, "status") }
}

enum Control {
    static func run(_ service: ServiceOptions, _ verb: String) throws {
        do {
            print(try service.installer.control(verb), terminator: "")
        } catch {
            throw service.fail(error)
        }
    }
}
