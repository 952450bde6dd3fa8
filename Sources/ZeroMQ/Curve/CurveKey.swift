import CZeroMQ

/// A CURVE key (32 bytes of Curve25519), held as its Z85 text: 40 printable characters, the
/// form ZeroMQ's tools and files use, so a key can be pasted, diffed and put in a file.
///
/// The same type holds public and secret keys; `CurveKeyPair` keeps the secret one out of
/// descriptions and logs.
public struct CurveKey: Sendable, Hashable, CustomStringConvertible {
    /// The 40-character Z85 encoding.
    public let z85: String

    /// Validates `z85` (40 characters of the Z85 alphabet, surrounding whitespace ignored).
    /// - Throws: `CurveError.invalidKey` for anything else.
    public init(z85 text: String) throws {
        let trimmed = String(text.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
        guard trimmed.utf8.count == 40, Self.decode(trimmed) != nil else {
            throw CurveError.invalidKey("expected 40 characters of Z85 text, got \(trimmed.utf8.count) character(s)")
        }
        self.z85 = trimmed
    }

    /// The key's 32 raw bytes (what the socket options take).
    public var bytes: [UInt8] { Self.decode(z85)! }

    public var description: String { z85 }

    static func decode(_ text: String) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: 32)
        let ok = out.withUnsafeMutableBufferPointer { buffer in
            zmq_z85_decode(buffer.baseAddress, text) != nil
        }
        return ok ? out : nil
    }
}

/// A CURVE keypair: what a CURVE server proves it is, or what a client presents.
public struct CurveKeyPair: Sendable, Hashable, CustomStringConvertible {
    public let publicKey: CurveKey
    public let secretKey: CurveKey

    /// A fresh random keypair (libzmq's `zmq_curve_keypair`, from libsodium's RNG).
    public static func generate() throws -> CurveKeyPair {
        try Curve.requireAvailable()
        var publicText = [CChar](repeating: 0, count: 41)
        var secretText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicText, &secretText) == 0 else {
            throw ZMQError.last("zmq_curve_keypair")
        }
        defer { for index in secretText.indices { secretText[index] = 0 } }
        return CurveKeyPair(
            publicKey: try CurveKey(z85: text(publicText)), secretKey: try CurveKey(z85: text(secretText))
        )
    }

    /// The pair of a secret key, its public half derived (`zmq_curve_public`): a secret-key
    /// file is then all a process needs, and public and secret can never disagree.
    public init(secretKey: CurveKey) throws {
        try Curve.requireAvailable()
        var publicText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicText, secretKey.z85) == 0 else {
            throw ZMQError.last("zmq_curve_public")
        }
        self.init(publicKey: try CurveKey(z85: text(publicText)), secretKey: secretKey)
    }

    private init(publicKey: CurveKey, secretKey: CurveKey) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// Names the public key only: a keypair may end up in a log line.
    public var description: String { "CurveKeyPair(public: \(publicKey.z85))" }
}

/// A NUL-terminated C buffer as a String.
private func text(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Whether this libzmq can do CURVE at all.
public enum Curve {
    /// `zmq_has("curve")`: libzmq was built with libsodium (or tweetnacl).
    public static var isAvailable: Bool { zmq_has("curve") != 0 }

    /// - Throws: `CurveError.unavailable`, which says what to install.
    public static func requireAvailable() throws {
        guard isAvailable else { throw CurveError.unavailable }
    }
}

public enum CurveError: Error, CustomStringConvertible, Sendable, Equatable {
    case unavailable
    case invalidKey(String)

    public var description: String {
        switch self {
        case .unavailable:
            "this libzmq was built without CURVE support (zmq_has(\"curve\") is false); install a libzmq built with libsodium (Debian's libzmq5 is)"
        case .invalidKey(let detail):
            "invalid CURVE key: \(detail)"
        }
    }
}
