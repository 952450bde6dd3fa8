import ArgumentParser
import Bus
import CallbackWorker
import FleetTLS
import Foundation
import Gateway
import Hummingbird
import Logging
import NIOSSL
import Registry
import ServiceLifecycle

/// Turns configuration into each role's settings, and runs services until SIGTERM/SIGINT.
enum RoleSupport {
    /// The registry's SQLite file: `store.path`, or `<data_dir>/registry.sqlite`.
    static func storePath(_ config: MasterConfig) -> String {
        config.store.path.isEmpty ? "\(config.dataDir)/registry.sqlite" : config.store.path
    }

    static func registrySettings(
        _ config: MasterConfig, endpoints: BusEndpoints, replySecret: [UInt8]?, security: BusSecurity = .none
    ) -> RegistrySettings {
        var settings = RegistrySettings(
            endpoints: endpoints,
            heartbeatTimeout: .milliseconds(Int64(config.heartbeat.timeout * 1000)),
            cleanupInterval: .milliseconds(Int64(config.heartbeat.cleanupInterval * 1000)),
            peerTimeout: .milliseconds(Int64(config.registry.peerTimeout * 1000)),
            requests: .init(
                attemptTimeout: config.callbacks.timeout, maxAttempts: config.callbacks.attempts,
                retention: config.callbacks.retention
            ),
            storePath: config.store.enabled ? storePath(config) : nil,
            metricsRetention: config.store.metricsRetention,
            replySecret: replySecret,
            alerts: AlertSettings(
                rules: config.alerts.rules, webhooks: config.alerts.webhooks, retryFor: config.alerts.retryFor,
                retryBase: config.alerts.retryBase, retryCap: config.alerts.retryCap, retention: config.alerts.retention
            ),
            access: .init(
                enabled: config.auth.enabled, approvalRequired: config.auth.approval,
                bootstrapMaxAgents: config.auth.maxAgents > 0 ? config.auth.maxAgents : nil
            ),
            auditRetention: config.audit.retention,
            security: security
        )
        settings.storeMaxPendingRows = config.store.maxPendingRows
        settings.historyInterval = config.store.historyInterval
        settings.storeMaxPendingBytes = config.store.maxPendingBytes
        settings.metricsInterval = .milliseconds(Int64(config.replication.metricsInterval * 1000))
        return settings
    }

    static func gatewaySettings(
        _ config: MasterConfig, endpoints: BusEndpoints, tokens: GatewayTokens, security: BusSecurity = .none
    ) throws -> GatewaySettings {
        GatewaySettings(
            endpoints: endpoints, host: config.server.host, port: config.server.port, wsPath: config.server.wsPath,
            gatewayId: config.gateway.id.isEmpty ? randomID(prefix: "gw") : config.gateway.id,
            maxFrameBytes: config.gateway.maxFrameBytes,
            pingInterval: .milliseconds(Int64(config.gateway.pingInterval * 1000)),
            helloTimeout: .milliseconds(Int64(config.gateway.helloTimeout * 1000)),
            tokens: tokens, maxUploadBytes: config.callbacks.maxUpload,
            limits: GatewayLimits(
                headerTimeout: seconds(config.server.headerTimeout), idleTimeout: seconds(config.server.idleTimeout),
                readTimeout: seconds(config.server.readTimeout), agentRate: config.gateway.agentRate,
                agentBurst: config.gateway.agentBurst, callbackRate: config.gateway.callbackRate,
                callbackBurst: config.gateway.callbackBurst, maxClockSkew: config.gateway.maxClockSkew
            ),
            metricsText: { Telemetry.text() },
            tls: try gatewayTLS(config), security: security
        )
    }

    /// The gateway's TLS configuration from `server.tls.*`, read and checked before anything
    /// listens: a missing, unreadable, expired or mismatched file stops the process with exit
    /// status 2 and a message naming the key, not a failure at the first client.
    static func gatewayTLS(_ config: MasterConfig) throws -> TLSConfiguration? {
        let tls = config.server.tls
        guard tls.enabled else { return nil }
        do {
            return try TLSSettings.server(
                certificate: TLSSource(path: tls.cert, key: "server.tls.cert"),
                privateKey: TLSSource(path: tls.key, key: "server.tls.key"),
                clientCA: tls.clientCA.isEmpty ? nil : TLSSource(path: tls.clientCA, key: "server.tls.client_ca")
            )
        } catch {
            FileHandle.standardError.write(Data("master: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    static func workerSettings(_ config: MasterConfig, endpoints: BusEndpoints, security: BusSecurity = .none) -> WorkerSettings {
        WorkerSettings(
            endpoints: endpoints, workerId: config.worker.id.isEmpty ? randomID(prefix: "wk") : config.worker.id, security: security
        )
    }

    static func seconds(_ value: Double) -> Duration { .milliseconds(Int64(value * 1000)) }

    static func randomID(prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Runs `services` in one ServiceGroup (graceful shutdown on SIGTERM and SIGINT), then
    /// shuts the ZeroMQ context down so queued bus messages are flushed before exit.
    static func run(_ services: [any Service], context: BusContext, logger: Logger) async throws {
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
        // For orchestrators' probes (a container HEALTHCHECK, Kubernetes): this listener
        // starts with the role's other services, after the role's sockets are bound or
        // connected, so answering at all means the process is up and serving.
        let health = #"{"status":"ok","role":"\#(ready.role)"}"#
        for path in ["healthz", "readyz"] {
            router.get(RouterPath(path)) { _, _ in
                Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: health)))
            }
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

    /// The base URL to show for a listener. With TLS it is https:// and a loopback or
    /// wildcard address is shown as `localhost`: a certificate names hosts (`master certs init`
    /// always adds localhost), and the agent's WebSocket client cannot verify a bare IP address.
    static func httpURL(host: String, port: Int, tls: Bool = false) -> String {
        let wildcard = host.isEmpty || host == "0.0.0.0" || host == "::"
        if tls {
            let shown = wildcard || host == "127.0.0.1" || host == "::1" ? "localhost" : host
            return "https://\(shown.contains(":") ? "[\(shown)]" : shown):\(port)"
        }
        return "http://\(wildcard ? "127.0.0.1" : host):\(port)"
    }

    /// The agents' WebSocket URL beside an http(s) base URL: ws:// or wss:// to match.
    static func wsURL(base: String, path: String) -> String {
        let scheme = base.hasPrefix("https://") ? "wss://" : "ws://"
        return scheme + base.drop { $0 != "/" }.dropFirst(2) + path
    }
}
