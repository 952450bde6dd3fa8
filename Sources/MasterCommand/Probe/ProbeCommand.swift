import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL

/// `master probe`: the health check a container runtime runs inside the container
/// (`HEALTHCHECK CMD ["master", "probe"]`), so the image needs no curl.
///
/// With no `--url` it asks the role configured here (the same file, FLEET_MASTER_* variables
/// and `--set` as the role itself): a registry or worker with `metrics.listen` on its
/// `/readyz` there, a gateway or `master serve` on `server.port` (https:// when `server.tls` is
/// set). Exit 0 for a 2xx answer within `--timeout`, 1 otherwise, with the reason on stderr.
struct ProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Check this host's master role: GET its /readyz (exit 0 if 2xx, else 1). For container health checks."
    )

    @OptionGroup var options: CommonOptions

    @Option(help: "URL to GET instead of the configured role's /readyz.")
    var url: String?

    @Option(help: "Seconds to wait for the answer.")
    var timeout: Int = 3

    @Flag(help: "Print the answer's body (e.g. a role's /metrics, from inside its container).")
    var print = false

    func run() async throws {
        let config = try options.loadConfig()
        let target = url ?? Self.defaultURL(config)
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(Int64(timeout)), read: .seconds(Int64(timeout)))
        )
        if target.hasPrefix("https://") {
            var tls = TLSConfiguration.makeClientConfiguration()
            // The derived URL is this host's own listener on loopback: the probe reads /readyz
            // and sends no secret, so there is nothing a certificate check would protect here
            // (and the gateway's certificate names the service, not 127.0.0.1's view of it).
            // A --url elsewhere is verified against the system's roots as usual.
            if url == nil { tls.certificateVerification = .none }
            configuration.tlsConfiguration = tls
        }
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let status: UInt
        do {
            let response = try await client.execute(HTTPClientRequest(url: target), timeout: .seconds(Int64(timeout)))
            let body = try await response.body.collect(upTo: 16 << 20)
            status = response.status.code
            if self.print { FileHandle.standardOutput.write(Data(body.readableBytesView)) }
            try? await client.shutdown()
        } catch {
            try? await client.shutdown()
            FileHandle.standardError.write(Data("master probe: \(target): \(error)\n".utf8))
            throw ExitCode(1)
        }
        guard (200..<300).contains(status) else {
            FileHandle.standardError.write(Data("master probe: \(target): HTTP \(status)\n".utf8))
            throw ExitCode(1)
        }
    }

    static func defaultURL(_ config: MasterConfig) -> String {
        if let port = config.metrics.listen.split(separator: ":").last, !config.metrics.listen.isEmpty {
            return "http://127.0.0.1:\(port)/readyz"
        }
        let tls = !config.server.tls.cert.isEmpty
        return "\(tls ? "https://localhost" : "http://127.0.0.1"):\(config.server.port)/readyz"
    }
}
