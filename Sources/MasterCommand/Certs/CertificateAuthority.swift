import Crypto
import Foundation
import SwiftASN1
import X509

/// A private CA for one fleet, and the certificates it issues: the gateways' server
/// certificate and the agents' client certificates. P-256 keys and ECDSA-SHA256 signatures
/// (small, fast, and accepted by every TLS stack the fleet talks to).
struct CertificateAuthority {
    /// A certificate with its private key, as the PEM files `master certs init` writes.
    struct Issued {
        let certificate: Certificate
        let privateKey: Certificate.PrivateKey

        // With the final newline PEM files have by convention: without it `cat crt key >
        // bundle.pem` (HAProxy's format) runs the END and BEGIN lines together, and the
        // bundle does not load.
        var certificatePEM: String { get throws { try certificate.serializeAsPEM().pemString + "\n" } }
        var privateKeyPEM: String { get throws { try privateKey.serializeAsPEM().pemString + "\n" } }
    }

    let root: Issued

    /// Backdated a little so a client whose clock is slightly behind accepts a fresh certificate.
    static let clockSkew: TimeInterval = 300

    /// A new CA, valid for `days`. Its name carries part of its key id, so two fleets' CAs
    /// (or a CA and its replacement) are never confused by name.
    init(days: Int, now: Date = Date()) throws {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let publicKey = key.publicKey
        let keyID = SubjectKeyIdentifier(hash: publicKey)
        let tag = keyID.keyIdentifier.prefix(4).map { String(format: "%02x", $0) }.joined()
        let name = try DistinguishedName {
            OrganizationName("fleet")
            CommonName("fleet private CA \(tag)")
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now - Self.clockSkew, notValidAfter: now + Double(days) * 86_400,
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                keyID
            },
            issuerPrivateKey: key
        )
        root = Issued(certificate: certificate, privateKey: key)
    }

    /// A gateway's server certificate, valid for `names` (its subject alternative names).
    func issueServer(names: [HostName], days: Int, now: Date = Date()) throws -> Issued {
        try issue(
            commonName: names.first?.description ?? "fleet gateway", usage: .serverAuth,
            alternativeNames: names.map(\.generalName), days: days, now: now
        )
    }

    /// An agent's (or an operator's) client certificate, for gateways with `server.tls.client_ca`.
    func issueClient(name: String, days: Int, now: Date = Date()) throws -> Issued {
        try issue(commonName: name, usage: .clientAuth, alternativeNames: nil, days: days, now: now)
    }

    private func issue(
        commonName: String, usage: ExtendedKeyUsage.Usage, alternativeNames: [GeneralName]?, days: Int, now: Date
    ) throws -> Issued {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let authorityKeyID = try root.certificate.extensions.subjectKeyIdentifier?.keyIdentifier
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
            notValidBefore: now - Self.clockSkew, notValidAfter: now + Double(days) * 86_400,
            issuer: root.certificate.subject,
            subject: try DistinguishedName {
                OrganizationName("fleet")
                CommonName(commonName)
            },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([usage])
                SubjectKeyIdentifier(hash: key.publicKey)
                AuthorityKeyIdentifier(keyIdentifier: authorityKeyID)
                if let alternativeNames {
                    SubjectAlternativeNames(alternativeNames)
                }
            },
            issuerPrivateKey: root.privateKey
        )
        return Issued(certificate: certificate, privateKey: key)
    }
}
