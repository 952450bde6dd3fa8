import ArgumentParser
import Bus
import CallbackWorker
import Foundation
import Gateway
import Logging
import Registry
import ServiceLifecycle

/// `master serve`: all three roles in one process over inproc:// — the zero-setup default.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run gateway, registry and callback-worker in one process (the default deployment)."
    )

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let config = try options.loadConfig()
        try options.bootstrapLogging(config, role: "master")
        try await Self.serve(config: config, readyFile: options.readyFile)
    }

    /// Shared with `master demo`.
    static func serve(
        config: MasterConfig, readyFile: String?,
        onListening: @escaping @Sendable (String) async -> Void = { _ in }
    ) async throws {
        let logger = Logger(label: "master")
        let context = BusContext()
        let endpoints = BusEndpoints.inproc()
        let registry = try RegistryService(
            context: context,
            settings: RoleSupport.registrySettings(
                config, endpoints: endpoints, replySecret: try TokenFiles.replySecret(config, logger: logger)
            ),
            logger: Logger(label: "registry")
        )
        let worker = try WorkerService(
            context: context, settings: RoleSupport.workerSettings(config, endpoints: endpoints),
            logger: Logger(label: "worker")
        )
        let tokens = try TokenFiles.resolve(config, createMissing: true, logger: logger)
        let gatewaySettings = try RoleSupport.gatewaySettings(config, endpoints: endpoints, tokens: tokens)
        let gateway = try GatewayService(
            context: context, settings: gatewaySettings, logger: Logger(label: "gateway")
        ) { host, port in
            let url = RoleSupport.httpURL(host: host, port: port, tls: gatewaySettings.tls != nil)
            logger.notice("master ready", metadata: ["api": "\(url)/api/v1/agents", "ws": "\(RoleSupport.wsURL(base: url, path: gatewaySettings.wsPath))"])
            if config.auth.enabled && config.auth.adminToken.isEmpty {
                logger.notice("admin API: curl -H \"Authorization: Bearer $(cat \(TokenFiles.adminPath(config)))\" \(url)/api/v1/agents")
            }
            if config.auth.enabled && config.auth.agentToken.isEmpty {
                logger.notice("agents: set master.token to the contents of \(TokenFiles.agentPath(config))")
            }
            RoleSupport.announce(
                ReadyFile(role: "serve", pid: getpid(), http: url, gatewayId: gatewaySettings.gatewayId, bus: endpoints),
                to: readyFile, logger: logger
            )
            await onListening(url)
        }
        try await RoleSupport.run([registry, worker, gateway], context: context, logger: logger)
    }
}

/// `master registry`: the registry alone (`run`, the default), and `backup` of its store.
struct RegistryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry", abstract: "Run the registry role alone (binds the bus endpoints), or back up its store.",
        subcommands: [RegistryRun.self, RegistryBackup.self], defaultSubcommand: RegistryRun.self
    )
}

/// `master registry [run]`: the registry alone, binding the tcp:// bus endpoints.
struct RegistryRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run the registry role alone (binds the bus endpoints); the default."
    )

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let config = try options.loadConfig()
        try options.bootstrapLogging(config, role: "registry")
        let logger = Logger(label: "registry")
        let security = try RoleSupport.busSecurity(config, side: .registry, logger: logger)
        let context = BusContext()
        let registry: RegistryService
        do {
            registry = try RegistryService(
                context: context,
                settings: RoleSupport.registrySettings(
                    config, endpoints: config.bus.endpoints, replySecret: try TokenFiles.replySecret(config, logger: logger),
                    security: security
                ),
                logger: logger
            )
        } catch {
            logger.critical("cannot start the registry", metadata: ["error": "\(error)"])
            await context.shutdown()
            throw ExitCode(1)
        }
        let ready = ReadyFile(role: "registry", pid: getpid(), bus: registry.boundEndpoints)
        try await RoleSupport.run(
            [registry] + RoleSupport.metricsListener(config, ready: ready, readyFile: options.readyFile, logger: logger),
            context: context, logger: logger
        )
    }
}

/// `master gateway`: one gateway, connecting to the registry's tcp:// endpoints.
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway", abstract: "Run one gateway (agent WebSockets and REST), connected to the registry."
    )

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let config = try options.loadConfig()
        try options.bootstrapLogging(config, role: "gateway")
        let logger = Logger(label: "gateway")
        let security = try RoleSupport.busSecurity(config, side: .gateway, logger: logger)
        let context = BusContext()
        let tokens = try TokenFiles.resolve(config, createMissing: false, logger: logger)
        let settings = try RoleSupport.gatewaySettings(config, endpoints: config.bus.endpoints, tokens: tokens, security: security)
        let readyFile = options.readyFile
        let gateway = try GatewayService(context: context, settings: settings, logger: logger) { host, port in
            RoleSupport.announce(
                ReadyFile(
                    role: "gateway", pid: getpid(), http: RoleSupport.httpURL(host: host, port: port, tls: settings.tls != nil),
                    gatewayId: settings.gatewayId, bus: config.bus.endpoints
                ),
                to: readyFile, logger: logger
            )
        }
        try await RoleSupport.run([gateway], context: context, logger: logger)
    }
}

/// `master worker`: one callback-worker, connecting to the registry's tcp:// endpoints.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Run one callback-worker, connected to the registry."
    )

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let config = try options.loadConfig()
        try options.bootstrapLogging(config, role: "worker")
        let logger = Logger(label: "worker")
        let security = try RoleSupport.busSecurity(config, side: .worker, logger: logger)
        let context = BusContext()
        let worker = try WorkerService(
            context: context, settings: RoleSupport.workerSettings(config, endpoints: config.bus.endpoints, security: security),
            logger: logger
        )
        let ready = ReadyFile(role: "worker", pid: getpid(), bus: config.bus.endpoints)
        try await RoleSupport.run(
            [worker] + RoleSupport.metricsListener(config, ready: ready, readyFile: options.readyFile, logger: logger),
            context: context, logger: logger
        )
    }
}
