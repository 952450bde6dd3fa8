#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOSSL

/// Reads PEM certificates and keys with errors that name the file and the setting. NIOSSL's
/// own errors (`failedToLoadCertificate`) say neither which file nor why.
public enum TLSFiles {
    /// Every certificate in a PEM file (a chain, or a CA bundle); at least one.
    public static func certificates(at path: String, key: String) throws(TLSFileError) -> [NIOSSLCertificate] {
        let bytes = try read(path, key: key)
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMBytes(bytes)
        } catch {
            throw TLSFileError(key: key, path: path, problem: "not a PEM certificate file")
        }
        guard !certificates.isEmpty else {
            throw TLSFileError(key: key, path: path, problem: "no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)")
        }
        return certificates
    }

    /// A PEM private key (PKCS#8, SEC1 or PKCS#1).
    public static func privateKey(at path: String, key: String) throws(TLSFileError) -> NIOSSLPrivateKey {
        let bytes = try read(path, key: key)
        do {
            return try NIOSSLPrivateKey(bytes: bytes, format: .pem)
        } catch {
            throw TLSFileError(key: key, path: path, problem: "not a PEM private key (or an encrypted one, which is not supported)")
        }
    }

    /// The whole file, or an error saying why it cannot be read (missing, permissions).
    static func read(_ path: String, key: String) throws(TLSFileError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw TLSFileError(key: key, path: path, problem: "cannot read the file: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc_read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw TLSFileError(key: key, path: path, problem: "cannot read the file: \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            bytes += chunk[0..<count]
            // Certificates and keys are small; a huge file is a wrong path, not a bundle.
            guard bytes.count <= 4 * 1_048_576 else {
                throw TLSFileError(key: key, path: path, problem: "larger than 4 MiB: not a certificate or key file")
            }
        }
        guard !bytes.isEmpty else { throw TLSFileError(key: key, path: path, problem: "the file is empty") }
        return bytes
    }
}

@inline(__always)
private func Glibc_read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}
