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
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
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
