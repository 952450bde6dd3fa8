import NIOSSL

/// Why a TLS connection failed, in words an operator can act on. NIOSSL reports BoringSSL's
/// error stack (`CERTIFICATE_VERIFY_FAILED at …/handshake_client.cc:…`), which names neither
/// the setting to fix nor which side refused.
public enum TLSFailure: Sendable, Equatable {
    /// The server's certificate does not chain to the roots we trust.
    case untrustedCertificate
    /// The certificate is fine but does not name the host we dialled (nil: an IP address,
    /// which NIOSSL does not name).
    case wrongHost(String?)
    /// The server asked for a client certificate and refused ours (or our lack of one).
    case clientCertificateRefused
    /// The peer answered, but not in TLS (a plain-HTTP gateway).
    case notTLS
    /// Any other TLS error, as NIOSSL describes it.
    case other(String)

    /// Which settings the explanation should point at; each client names its own.
    public struct Hints: Sendable {
        public var caFile: String
        public var clientCertificate: String

        public init(caFile: String, clientCertificate: String) {
            self.caFile = caFile
            self.clientCertificate = clientCertificate
        }
    }

    /// nil when `error` is not a TLS error at all (refused connection, DNS, HTTP…).
    public init?(_ error: any Error) {
        if let extra = error as? NIOSSLExtraError {
            if extra == .failedToValidateHostname || extra == .serverHostnameImpossibleToMatch {
                // The description carries the expected name: "…: Couldn't find <name> in certificate from peer".
                self = .wrongHost(Self.expectedName(in: String(describing: extra)))
            } else {
                self = .other(String(describing: extra))
            }
            return
        }
        switch error as? NIOSSLError {
        case .handshakeFailed(let boring)?:
            self = Self.classify(String(describing: boring))
        case .some(let other):
            self = .other(String(describing: other))
        case nil:
            // Alerts that arrive after the handshake (TLS 1.3 sends the server's verdict on a
            // client certificate then) surface as a bare BoringSSL error on the first read.
            guard let boring = error as? BoringSSLError, case .sslError = boring else { return nil }
            self = Self.classify(String(describing: boring))
        }
    }

    static func classify(_ text: String) -> TLSFailure {
        let upper = text.uppercased()
        if upper.contains("CERTIFICATE_VERIFY_FAILED") { return .untrustedCertificate }
        if upper.contains("CERTIFICATE_REQUIRED") || upper.contains("ALERT_UNKNOWN_CA") || upper.contains("ALERT_BAD_CERTIFICATE")
            || upper.contains("ALERT_CERTIFICATE_UNKNOWN") || upper.contains("ALERT_HANDSHAKE_FAILURE") || upper.contains("ALERT_UNSUPPORTED_CERTIFICATE")
        {
            return .clientCertificateRefused
        }
        if upper.contains("WRONG_VERSION_NUMBER") || upper.contains("HTTP_REQUEST") { return .notTLS }
        return .other(text)
    }

    static func expectedName(in description: String) -> String? {
        // "…: Couldn't find <name> in certificate from peer" (no Foundation in this module);
        // "<none>" when an address was dialled.
        let words = description.split(separator: " ")
        guard let find = words.firstIndex(of: "find"), find > 0, words[find - 1] == "Couldn't", find + 1 < words.count,
            words[find + 1] != "<none>"
        else { return nil }
        return String(words[find + 1])
    }

    /// One line that says what failed and which setting to check.
    public func explanation(_ hints: Hints) -> String {
        switch self {
        case .untrustedCertificate:
            "TLS: the gateway's certificate is not trusted (check \(hints.caFile))"
        case .wrongHost(let host):
            "TLS: the gateway's certificate is not valid for \(host.map { "the host '\($0)'" } ?? "the address dialled") (use a name or address the certificate lists, e.g. one given to `master certs init --host`)"
        case .clientCertificateRefused:
            "TLS: the gateway refused the connection: it requires a client certificate from its CA (check \(hints.clientCertificate))"
        case .notTLS:
            "TLS: the gateway does not speak TLS at this address (use ws:// and http://, or turn on server.tls at the gateway)"
        case .other(let text):
            "TLS: handshake failed: \(text)"
        }
    }
}
