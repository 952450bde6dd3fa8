#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOSSL

/// A PEM file and the setting it came from (for error messages).
public struct TLSSource: Sendable, Hashable {
    public var path: String
    public var key: String

    public init(path: String, key: String) {
        self.path = path
        self.key = key
    }
}

/// The TLS configurations of the fleet's three TLS endpoints: the gateway (server, with
/// optional client certificates), the agent and the admin CLI (clients, with an optional
/// private CA and client certificate). Everything is read and checked here, at startup, so a
/// wrong file is one clear error instead of a failure at the first connection.
public enum TLSSettings {
    /// TLS 1.2 is the oldest version without known protocol breaks; nothing in the fleet
    /// needs older.
    static let minimumVersion = TLSVersion.tlsv12

    /// The gateway's configuration. With `clientCA`, every client must present a certificate
    /// that chains to it (mTLS); without, clients are not asked for one.
    public static func server(certificate: TLSSource, privateKey: TLSSource, clientCA: TLSSource?) throws(TLSFileError) -> TLSConfiguration {
        let chain = try TLSFiles.certificates(at: certificate.path, key: certificate.key)
        try checkValidity(chain[0], source: certificate)
        let key = try TLSFiles.privateKey(at: privateKey.path, key: privateKey.key)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = minimumVersion
        if let clientCA {
            let roots = try TLSFiles.certificates(at: clientCA.path, key: clientCA.key)
            // No host name to check on a client; the chain to this CA is the identity.
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .certificates(roots)
            // Tells clients which CA to pick a certificate for.
            configuration.sendCANameList = true
        }
        try check(configuration, keySource: privateKey, certificateSource: certificate)
        return configuration
    }

    /// A client's configuration: trust `ca` only (a private CA bundle) or, without it, the
    /// system's roots; present `certificate`/`privateKey` when given (both or neither).
    public static func client(ca: TLSSource?, certificate: TLSSource?, privateKey: TLSSource?) throws(TLSFileError) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = minimumVersion
        if let ca {
            configuration.trustRoots = .certificates(try TLSFiles.certificates(at: ca.path, key: ca.key))
        }
        switch (certificate, privateKey) {
        case (nil, nil):
            break
        case (let certificate?, let privateKey?):
            let chain = try TLSFiles.certificates(at: certificate.path, key: certificate.key)
            try checkValidity(chain[0], source: certificate)
            configuration.certificateChain = chain.map { .certificate($0) }
            configuration.privateKey = .privateKey(try TLSFiles.privateKey(at: privateKey.path, key: privateKey.key))
            try check(configuration, keySource: privateKey, certificateSource: certificate)
        case (let given?, nil), (nil, let given?):
            throw TLSFileError(key: given.key, path: given.path, problem: "a client certificate needs both its certificate and its key file")
        }
        return configuration
    }

    /// Builds the context once, which is where BoringSSL refuses a key that does not belong
    /// to the certificate.
    private static func check(_ configuration: TLSConfiguration, keySource: TLSSource, certificateSource: TLSSource) throws(TLSFileError) {
        do {
            _ = try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSFileError(
                key: keySource.key, path: keySource.path,
                problem: "cannot be used with the certificate in \(certificateSource.key) ('\(certificateSource.path)'): is it that certificate's key? (\(error))"
            )
        }
    }

    /// An expired or not-yet-valid certificate would fail every handshake; say so at startup.
    private static func checkValidity(_ certificate: NIOSSLCertificate, source: TLSSource) throws(TLSFileError) {
        let now = time(nil)
        if certificate.notValidAfter < now {
            throw TLSFileError(key: source.key, path: source.path, problem: "the certificate expired on \(utc(certificate.notValidAfter))")
        }
        if certificate.notValidBefore > now {
            throw TLSFileError(key: source.key, path: source.path, problem: "the certificate is not valid before \(utc(certificate.notValidBefore))")
        }
    }

    static func utc(_ time: time_t) -> String {
        var time = time
        var parts = tm()
        gmtime_r(&time, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M:%S UTC", &parts)
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
