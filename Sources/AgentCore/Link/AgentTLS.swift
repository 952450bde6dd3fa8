import FleetSupport
import FleetTLS
import NIOSSL

/// The agent's TLS towards the master, shared by the WebSocket (wss://) and the reply POSTs
/// (https://): trust `master.ca_file` (else the system's roots) and present
/// `master.cert_file`/`master.key_file` when the gateway wants a client certificate.
public struct AgentTLS: Sendable {
    public let configuration: TLSConfiguration

    /// Where a TLS failure's explanation points the operator.
    static let hints = TLSFailure.Hints(caFile: "master.ca_file", clientCertificate: "master.cert_file and master.key_file")

    /// Reads and checks the files now; a bad one is a configuration error (exit status 2)
    /// naming the key, not a handshake failure later.
    public init(_ master: AgentConfig.Master) throws(ConfigError) {
        func source(_ path: String, _ key: String) -> TLSSource? { path.isEmpty ? nil : TLSSource(path: path, key: key) }
        do {
            configuration = try TLSSettings.client(
                ca: source(master.caFile, "master.ca_file"),
                certificate: source(master.certFile, "master.cert_file"),
                privateKey: source(master.keyFile, "master.key_file")
            )
        } catch {
            throw ConfigError(kind: .invalidValue, source: "configuration", key: error.key, message: "\(error.problem) ('\(error.path)')")
        }
    }

    /// The line to log for a failed connection or POST, when TLS is what failed.
    static func explain(_ error: any Error) -> String? {
        TLSFailure(error)?.explanation(hints)
    }
}
