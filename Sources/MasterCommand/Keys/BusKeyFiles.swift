import Bus
import FleetProtocol
import Foundation
import ZeroMQ

/// The keys directory `master keys generate` writes and `bus.curve.dir` names: one keypair
/// per process, `NAME.key` (the Z85 secret key, mode 0600) beside `NAME.pub` (the Z85 public
/// key), `NAME` being `registry`, `gateway-N` or `worker-N`.
///
/// A role's peers are told apart by file name: the registry admits every `gateway*.pub` as a
/// gateway and every `worker*.pub` as a worker. A whole directory rather than a list in the
/// config because the generator already names the files by role: adding a gateway is one more
/// `.pub` file and a registry restart, revoking one is deleting its `.pub`, and there is no
/// second list to keep in step with the files. Each host needs only part of it: the registry
/// `registry.key` and the peers' `.pub`s; a gateway or worker its own `.key` and `registry.pub`.
enum BusKeyFiles {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static let registryName = "registry"

    static func secretPath(_ dir: String, _ name: String) -> String { "\(dir)/\(name).key" }
    static func publicPath(_ dir: String, _ name: String) -> String { "\(dir)/\(name).pub" }

    /// The role a key file's name gives its holder (`gateway*`, `worker*`), nil for others.
    static func role(ofName name: String) -> BusRole? {
        BusRole.allCases.first { name.hasPrefix($0.rawValue) }
    }

    // MARK: Reading

    /// `NAME.key` as a keypair. Refuses a secret file that group or others can read, as ssh does:
    /// whoever reads it can pose as this process on the bus.
    static func keyPair(dir: String, name: String) throws -> CurveKeyPair {
        let path = secretPath(dir, name)
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw Failure(description: "no secret key \(path) (\(String(cString: strerror(errno)))); make one with `master keys generate --dir \(dir)`")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw Failure(description: "\(path) is readable by others (mode \(String(info.st_mode & 0o777, radix: 8))): chmod 600 it")
        }
        let text = try read(path)
        do {
            return try CurveKeyPair(secretKey: CurveKey(z85: text))
        } catch {
            throw Failure(description: "\(path): \(error)")
        }
    }

    static func publicKey(dir: String, name: String) throws -> CurveKey {
        let path = publicPath(dir, name)
        do {
            return try CurveKey(z85: try read(path))
        } catch let error as Failure {
            throw error
        } catch {
            throw Failure(description: "\(path): \(error)")
        }
    }

    /// Every `gateway*.pub` and `worker*.pub` in `dir`, sorted by name.
    static func peers(dir: String) throws -> [BusPeerKey] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: dir)
        } catch {
            throw Failure(description: "cannot list \(dir): \(error.localizedDescription)")
        }
        return try names.filter { $0.hasSuffix(".pub") }.sorted().compactMap { file -> BusPeerKey? in
            let name = String(file.dropLast(".pub".count))
            guard let role = role(ofName: name) else { return nil }
            return BusPeerKey(role: role, name: name, key: try publicKey(dir: dir, name: name))
        }
    }

    /// The names of the secret keys of `role` in `dir` (`gateway-1`, …).
    static func secretNames(dir: String, role: BusRole) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { $0.hasSuffix(".key") && $0.hasPrefix(role.rawValue) }.map { String($0.dropLast(".key".count)) }.sorted()
    }

    private static func read(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(description: "cannot read \(path)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: Writing

    /// Creates `dir` if needed and makes it 0700 (it holds secrets).
    static func prepare(dir: String) throws {
        if mkdir(dir, 0o700) != 0 && errno != EEXIST {
            throw Failure(description: "cannot create \(dir): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard stat(dir, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw Failure(description: "\(dir) is not a directory")
        }
        guard chmod(dir, 0o700) == 0 else {
            throw Failure(description: "cannot chmod 700 \(dir): \(String(cString: strerror(errno)))")
        }
    }

    /// Writes `keyPair` as `NAME.key` (0600) and `NAME.pub` (0644), each whole or not at all.
    static func write(_ keyPair: CurveKeyPair, dir: String, name: String) throws {
        try writeAtomically("\(keyPair.secretKey.z85)\n", to: secretPath(dir, name), mode: 0o600)
        try writeAtomically("\(keyPair.publicKey.z85)\n", to: publicPath(dir, name), mode: 0o644)
    }

    /// A temporary file created (`O_EXCL`, so never an old file with a wider mode) with the
    /// final mode, synced, then renamed over the target: a secret is readable by nobody else
    /// from its first byte, and a crash leaves the old file or the new one.
    private static func writeAtomically(_ text: String, to path: String, mode: mode_t) throws {
        let temporary = "\(path).tmp-\(getpid())"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        fchmod(fd, mode)  // the umask may have narrowed it
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw Failure(description: "cannot write \(path): \(reason)")
        }
    }
}
