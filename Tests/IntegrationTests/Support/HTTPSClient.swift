import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL

/// An HTTPS client for TLS gateways that trusts one private CA only (as an operator's tool
/// would with `--ca-file`) and optionally presents a client certificate. Independent of the
/// code under test: NIOSSL's own loaders, not FleetTLS.
struct HTTPSClient {
    let tls: TLSConfiguration

    init(ca: String, certificate: String? = nil, key: String? = nil) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
        if let certificate, let key {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        }
        self.tls = tls
    }

    func get(_ url: String, token: String? = nil) async throws -> (status: Int, body: Data) {
        try await send(HTTPClientRequest(url: url), token: token)
    }

    func post(_ url: String, token: String? = nil, body: Data) async throws -> (status: Int, body: Data) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body))
        return try await send(request, token: token)
    }

    /// One client per request, shut down on every path (an HTTPClient must not be released
    /// running), trying to connect once so a refused handshake is an error now.
    private func send(_ request: HTTPClientRequest, token: String?) async throws -> (status: Int, body: Data) {
        var request = request
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let response = try await client.execute(request, timeout: .seconds(60))
            let body = try await response.body.collect(upTo: 16 * 1_048_576)
            try await client.shutdown()
            return (Int(response.status.code), Data(body.readableBytesView))
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}
