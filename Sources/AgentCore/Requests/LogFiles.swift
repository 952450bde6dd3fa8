#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// Which files a `logs` request may read: only regular files inside the agent's log
/// directory. The seed let anyone read any file the agent could; here `..`, absolute paths
/// and symlinks that lead outside are refused, checked on the real path after resolving links.
public enum LogFiles {
    public struct Refusal: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// The real path of `name` inside `directory`, or why it is refused.
    public static func resolve(_ name: String, in directory: String) throws -> String {
        guard !name.isEmpty else { throw Refusal(description: "no file name given") }
        guard !name.hasPrefix("/") else { throw Refusal(description: "'\(name)' is an absolute path; give a name inside the log directory") }
        guard !name.contains("\0") else { throw Refusal(description: "file name contains a NUL byte") }
        guard !name.split(separator: "/").contains("..") else { throw Refusal(description: "'\(name)' leaves the log directory (..)") }
        guard let base = realPath(directory) else { throw Refusal(description: "log directory \(directory) does not exist") }
        guard let target = realPath(base + "/" + name) else { throw Refusal(description: "no file '\(name)' in the log directory") }
        guard target.hasPrefix(base + "/") else {
            throw Refusal(description: "'\(name)' resolves outside the log directory (symlink)")
        }
        var info = stat()
        guard stat(target, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw Refusal(description: "'\(name)' is not a regular file")
        }
        return target
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Size of a file in bytes.
    static func size(_ path: String) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int64(info.st_size)
    }
}

/// A file's bytes from `offset`, `length` of them, in 256 KiB buffers: an upload body that
/// never holds more than one chunk in memory.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    let offset: Int64
    let length: Int64
    static let chunk = 256 * 1024

    struct AsyncIterator: AsyncIteratorProtocol {
        let path: String
        var position: Int64
        let end: Int64
        var fd: Int32 = -1

        mutating func next() async throws -> ByteBuffer? {
            guard position < end else {
                if fd >= 0 { close(fd); fd = -1 }
                return nil
            }
            if fd < 0 {
                fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw LogFiles.Refusal(description: "cannot open \(path): errno \(errno)") }
            }
            let want = Int(Swift.min(Int64(FileChunks.chunk), end - position))
            var buffer = ByteBufferAllocator().buffer(capacity: want)
            let count = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw in
                pread(fd, raw.baseAddress, want, off_t(position))
            }
            guard count > 0 else {
                close(fd)
                fd = -1
                throw LogFiles.Refusal(description: "\(path) shrank while being sent")
            }
            position += Int64(count)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(path: path, position: offset, end: offset + length)
    }
}
