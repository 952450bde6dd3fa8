import Bus
import CallbackWorker
import Foundation
import Gateway
import Hummingbird
import Logging
import Registry
import ServiceLifecycle
import ZeroMQ

/// Turns configuration into each role's settings, and runs services until SIGTERM/SIGINT.
enum RoleSupport {
    static func registrySettings(
        _ config: MasterConfig, endpoints: BusEndpoints, replySecret: [UInt8]?, security: BusSecurity = .none
    ) -> RegistrySettings {
        RegistrySettings(
            endpoints: endpoints,
            heartbeatTimeout: .milliseconds(Int64(config.heartbeat.timeout * 1000)),
            cleanupInterval: .milliseconds(Int64(config.heartbeat.cleanupInterval * 1000)),
            peerTimeout: .milliseconds(Int64(config.registry.peerTimeout * 1000)),
            requests: .init(
                attemptTimeout: config.callbacks.timeout, maxAttempts: config.callbacks.attempts,
                retention: config.callbacks.retention
            ),
            storePath: config.store.enabled ? (config.store.path.isEmpty ? "\(config.dataDir)/registry.sqlite" : config.store.path) : nil,
            metricsRetention: config.store.metricsRetention,
            replySecret: replySecret,
            alerts: AlertSettings(
                rules: config.alerts.rules, webhooks: config.alerts.webhooks, retryFor: config.alerts.retryFor,
                retryBase: config.alerts.retryBase, retryCap: config.alerts.retryCap, retention: config.alerts.retention
            ),
            security: security
        )
    }

    static func gatewaySettings(
        _ config: MasterConfig, endpoints: BusEndpoints, tokens: GatewayTokens, security: BusSecurity = .none
    ) -> GatewaySettings {
        GatewaySettings(
            endpoints: endpoints, host: config.server.host, port: config.server.port, wsPath: config.server.wsPath,
            gatewayId: config.gateway.id.isEmpty ? randomID(prefix: "gw") : config.gateway.id,
            maxFrameBytes: config.gateway.maxFrameBytes,
            pingInterval: .milliseconds(Int64(config.gateway.pingInterval * 1000)),
            helloTimeout: .milliseconds(Int64(config.gateway.helloTimeout * 1000)),
            tokens: tokens, maxUploadBytes: config.callbacks.maxUpload, metricsText: { Telemetry.text() }, security: security
        )
    }

    static func workerSettings(_ config: MasterConfig, endpoints: BusEndpoints, security: BusSecurity = .none) -> WorkerSettings {
        WorkerSettings(
            endpoints: endpoints, workerId: config.worker.id.isEmpty ? randomID(prefix: "wk") : config.worker.id, security: security
        )
    }

    static func randomID(prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Runs `services` in one ServiceGroup (graceful shutdown on SIGTERM and SIGINT), then
    /// shuts the ZeroMQ context down so queued bus messages are flushed before exit.
    static func run(_ services: [any Service], context: ZMQContext, logger: Logger) async throws {
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch {
            logger.error("stopped on error", metadata: ["error": "\(error)"])
            await context.shutdown()
            throw error
        }
        await context.shutdown()
    }

    /// Writes the ready file if asked to, logging (not failing) on error.
    static func announce(_ ready: ReadyFile, to path: String?, logger: Logger) {
        guard let path else { return }
        do {
            try ready.write(to: path)
        } catch {
            logger.error("cannot write ready file", metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }

    /// The `/metrics` listener of a registry or worker running alone, if `metrics.listen` is
    /// set; the ready file is written once it listens (with its address), else right away.
    static func metricsListener(_ config: MasterConfig, ready: ReadyFile, readyFile: String?, logger: Logger) throws -> [any Service] {
        guard !config.metrics.listen.isEmpty else {
            announce(ready, to: readyFile, logger: logger)
            return []
        }
        let parts = config.metrics.listen.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else {
            throw Telemetry.ValidationFailure(message: "metrics.listen must be host:port, got '\(config.metrics.listen)'")
        }
        let router = Router()
        router.get("metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: Telemetry.text())))
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname(String(parts[0]), port: port), serverName: "fleet-metrics"),
            onServerRunning: { channel in
                var withMetrics = ready
                withMetrics.metrics = httpURL(host: String(parts[0]), port: channel.localAddress?.port ?? port) + "/metrics"
                announce(withMetrics, to: readyFile, logger: logger)
            },
            logger: logger
        )
        return [app]
    }

    static func httpURL(host: String, port: Int) -> String {
        let shown = (host.isEmpty || host == "0.0.0.0" || host == "::") ? "127.0.0.1" : host
        return "http://\(shown):\(port)"
    }
}
