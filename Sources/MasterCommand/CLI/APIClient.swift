import ArgumentParser
import AsyncHTTPClient
import FleetProtocol
import FleetTLS
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// Connection options every CLI command takes.
struct ClientOptions: ParsableArguments {
    @Option(help: "Gateway base URL (or FLEET_URL).")
    var url: String?

    @Option(help: "Admin token (or FLEET_TOKEN; default: ./data/admin-token if it exists).")
    var token: String?

    @Flag(help: "Machine-readable JSON on stdout instead of a table.")
    var json = false

    @Option(help: "PEM CA bundle to verify an https:// gateway against, e.g. the ca.crt of `master certs init` (or FLEET_CA_FILE; default: the system's roots).")
    var caFile: String?

    @Option(help: "PEM client certificate, for a gateway that requires one (server.tls.client_ca) (or FLEET_CERT_FILE).")
    var certFile: String?

    @Option(help: "PEM key of --cert-file (or FLEET_KEY_FILE).")
    var keyFile: String?

    var baseURL: String {
        let value = url ?? ProcessInfo.processInfo.environment["FLEET_URL"] ?? "http://127.0.0.1:8080"
        return value.hasSuffix("/") ? String(value.dropLast()) : value
    }

    var resolvedToken: String? {
        if let token { return token }
        if let token = ProcessInfo.processInfo.environment["FLEET_TOKEN"] { return token }
        return (try? String(contentsOfFile: "data/admin-token", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// - Throws: an unusable --ca-file, --cert-file or --key-file, named.
    func client() throws -> APIClient {
        APIClient(base: baseURL, token: resolvedToken, tls: try tlsConfiguration())
    }

    /// For an https:// gateway: the CA and client certificate given (flags, then environment),
    /// else the system's roots. nil for http://.
    func tlsConfiguration() throws -> TLSConfiguration? {
        let environment = ProcessInfo.processInfo.environment
        func source(_ flag: String?, _ name: String, _ variable: String) -> TLSSource? {
            if let flag { return TLSSource(path: flag, key: "--\(name)") }
            if let value = environment[variable], !value.isEmpty { return TLSSource(path: value, key: variable) }
            return nil
        }
        let ca = source(caFile, "ca-file", "FLEET_CA_FILE")
        let certificate = source(certFile, "cert-file", "FLEET_CERT_FILE")
        let key = source(keyFile, "key-file", "FLEET_KEY_FILE")
        guard baseURL.hasPrefix("https://") else { return nil }
        return try TLSSettings.client(ca: ca, certificate: certificate, privateKey: key)
    }
}

/// Exit codes, so scripts can tell failures apart.
enum CLIExit {
    static let failed = ExitCode(1)       // the request ran and failed (or the command exited non-zero: exec)
    static let notFound = ExitCode(3)     // no such agent or request
    static let unauthorized = ExitCode(4) // missing, wrong or wrong-scope token
    static let unreachable = ExitCode(5)  // no answer from the gateway
}

/// A small client for the admin API (AsyncHTTPClient).
struct APIClient {
    let base: String
    let token: String?
    /// An https:// gateway's TLS settings; nil (http://) uses HTTPClient.shared.
    var tls: TLSConfiguration?

    static let tlsHints = TLSFailure.Hints(caFile: "--ca-file or FLEET_CA_FILE", clientCertificate: "--cert-file and --key-file")

    /// Runs `body` with a client of its own for this gateway (shut down afterwards), made with
    /// `tls` for https://. Not HTTPClient.shared: its browser-like 90 s read timeout ended every
    /// `?wait=` past 90 s as "cannot reach the gateway". Here the connect timeout is short (an
    /// unreachable gateway is reported in seconds), reads have no idle timeout (each call's
    /// deadline, which follows its `--wait`, bounds it), redirects are not followed (the token
    /// goes to this gateway only), and a connect is tried once: a CLI should report a refused
    /// certificate now, not retry it.
    private func withHTTPClient<T>(_ body: (HTTPClient) async throws -> T) async throws -> T {
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: nil)
        )
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// "cannot reach …" for a gateway that could not be connected to, with the TLS cause spelled
    /// out when that is what failed; "no answer within …" for one that was reached but did not
    /// finish answering in time (the request may well be running: never called unreachable).
    private func unreachable(_ error: any Error, timeout: TimeAmount) -> Failure {
        if let failure = TLSFailure(error) {
            return Failure(status: 0, message: "cannot reach \(base): \(failure.explanation(Self.tlsHints))")
        }
        if let client = error as? HTTPClientError, client == .deadlineExceeded || client == .readTimeout {
            return Failure(
                status: Failure.timedOut,
                message: "\(base) did not answer within \(timeout.nanoseconds / 1_000_000_000) s (it was reached; what was asked may still be running)"
            )
        }
        return Failure(status: 0, message: "cannot reach \(base): \(error)")
    }

    struct Failure: Error, CustomStringConvertible {
        let status: Int
        let message: String
        /// `status` of a call that reached the gateway but got no whole answer in time.
        static let timedOut = -1
        var description: String { status <= 0 ? message : "HTTP \(status): \(message)" }

        var exitCode: ExitCode {
            switch status {
            case 0: CLIExit.unreachable
            case 401, 403: CLIExit.unauthorized
            case 404: CLIExit.notFound
            default: CLIExit.failed
            }
        }
    }

    func request(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, timeout: TimeAmount = .seconds(330)) async throws -> (status: Int, body: ByteBuffer) {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let (status, data) = try await withHTTPClient { http -> (Int, ByteBuffer) in
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, timeout: timeout)
            } catch {
                throw unreachable(error, timeout: timeout)
            }
            return (Int(response.status.code), try await response.body.collect(upTo: 64 * 1_048_576))
        }
        guard (200..<300).contains(status) else {
            let message = (try? FleetJSON.decode(APIErrorBody.self, from: Array(data.readableBytesView)))?.error.message
                ?? String(buffer: data)
            throw Failure(status: status, message: message)
        }
        return (status, data)
    }

    func get<T: Decodable>(_ type: T.Type, _ path: String, timeout: TimeAmount = .seconds(330)) async throws -> T {
        let (_, body) = try await request(.GET, path, timeout: timeout)
        return try FleetJSON.decode(type, from: Array(body.readableBytesView))
    }

    /// Asks an agent for something and waits for the outcome (up to `wait` seconds).
    func callback(agent: String, kind: CallbackKind, args: JSONValue, wait: Int) async throws -> RequestRecord {
        let body = try FleetJSON.encode(CallbackRequestBody(kind: kind, args: args))
        // The call's deadline follows the wait: the gateway answers by then (the request's
        // outcome, or 202 if it is still running), plus time for the confirmation and transfer.
        let (status, data) = try await request(
            .POST, "/api/v1/agents/\(agent)/callbacks?wait=\(wait)", body: body, timeout: .seconds(Int64(wait) + 30)
        )
        if status == 202 {
            let accepted = try FleetJSON.decode(CallbackAccepted.self, from: Array(data.readableBytesView))
            throw Failure(status: 202, message: "request \(accepted.requestId) still running after \(wait) s; see `master requests show \(accepted.requestId)`")
        }
        return try FleetJSON.decode(RequestRecord.self, from: Array(data.readableBytesView))
    }

    /// Streams a request's content to `sink`, chunk by chunk.
    func download(_ requestId: String, into sink: (ByteBuffer) throws -> Void) async throws -> Int {
        var request = HTTPClientRequest(url: base + "/api/v1/requests/\(requestId)/content")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        return try await withHTTPClient { http in
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, timeout: .seconds(600))
            } catch {
                throw unreachable(error, timeout: .seconds(600))
            }
            guard response.status == .ok else {
                let data = try await response.body.collect(upTo: 1_048_576)
                throw Failure(status: Int(response.status.code), message: String(buffer: data))
            }
            var total = 0
            for try await chunk in response.body {
                total += chunk.readableBytes
                try sink(chunk)
            }
            return total
        }
    }
}

/// Prints to stderr and fails with the right exit code.
func fail(_ error: any Error) -> ExitCode {
    FileHandle.standardError.write(Data("master: \(error)\n".utf8))
    return (error as? APIClient.Failure)?.exitCode ?? CLIExit.failed
}

/// Aligned columns for people.
func table(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    return all.map { row in
        row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }.joined(separator: "\n")
}
