#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a whole file or nothing: a temporary file created with the final mode, synced,
/// then renamed over the target. A crash leaves the old file or the new one, never half of
/// one, and a secret is never readable by others, not even for an instant.
public enum AtomicFile {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func write(_ bytes: some Collection<UInt8>, to path: String, mode: mode_t) throws {
        let temporary = "\(path).tmp-\(getpid())"
        // A leftover of a crashed write is removed; O_EXCL | O_NOFOLLOW then make sure the file
        // written is the one created here, not something (a symlink) someone put in its place.
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))") }
        let array = Array(bytes)
        let written = array.withUnsafeBytes { Glibc_write(fd, $0.baseAddress, $0.count) }
        fchmod(fd, mode)  // the umask may have narrowed it
        fsync(fd)
        close(fd)
        guard written == array.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    public static func write(_ text: String, to path: String, mode: mode_t) throws {
        try write(Array(text.utf8), to: path, mode: mode)
    }
}

@inline(__always)
private func Glibc_write(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    write(fd, buffer, count)
}

/// Directories that hold secrets (the master's data dir, the agent's state dir, key and
/// certificate dirs): created 0700, and narrowed to 0700 when found wider.
public enum PrivateDirectory {
    /// Creates `path` (and missing parents, with the default mode) with mode 0700; an existing
    /// directory readable by group or others is narrowed. Returns true when it narrowed one.
    @discardableResult
    public static func ensure(_ path: String) throws -> Bool {
        var components: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: false) { components.append(part) }
        var current = path.hasPrefix("/") ? "" : "."
        for (index, part) in components.enumerated() where !part.isEmpty {
            current += "/" + part
            let isLeaf = index == components.count - 1 || components[(index + 1)...].allSatisfy(\.isEmpty)
            if mkdir(current, isLeaf ? 0o700 : 0o755) != 0 && errno != EEXIST {
                throw AtomicFile.Failure(description: "cannot create \(current): \(String(cString: strerror(errno)))")
            }
        }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw AtomicFile.Failure(description: "\(path) is not a directory")
        }
        guard info.st_mode & 0o077 != 0 else { return false }
        guard chmod(path, 0o700) == 0 else {
            throw AtomicFile.Failure(description: "cannot restrict \(path) to 0700: \(String(cString: strerror(errno)))")
        }
        return true
    }
}
