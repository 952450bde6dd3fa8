#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#elseif canImport(ucrt)
import ucrt
#endif
import Synchronization

/// An append-only log file that rotates by size: `name.log` -> `name.log.1` -> ... ->
/// `name.log.<maxBackups>`, the oldest deleted. What `logging.rotation_size` (MB) and
/// `logging.max_backups` configure. Thread-safe; a write never throws (logging must not
/// take a daemon down), failures are counted instead.
public final class RotatingFile: Sendable {
    public let path: String
    public let maxBytes: Int
    public let maxBackups: Int
    private let state: Mutex<State>

    private struct State {
        var fd: Int32 = -1
        var size = 0
        var failedWrites = 0
    }

    /// - Parameters:
    ///   - path: the live file; its directory is created if missing.
    ///   - maxBytes: size at which the file rotates (at least 4 KiB).
    ///   - maxBackups: rotated files kept (0 = truncate in place).
    public init(path: String, maxBytes: Int, maxBackups: Int) throws {
        self.path = path
        self.maxBytes = max(maxBytes, 4096)
        self.maxBackups = max(maxBackups, 0)
        try Self.makeDirectories(for: path)
        var state = State()
        state.fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard state.fd >= 0 else {
            throw LogFileError(path: path, errno: errno)
        }
        var info = stat()
        if fstat(state.fd, &info) == 0 { state.size = Int(info.st_size) }
        self.state = Mutex(state)
    }

    deinit {
        state.withLock { if $0.fd >= 0 { close($0.fd) } }
    }

    /// Appends `line` (which should end in a newline), rotating first if it would not fit.
    public func write(_ line: String) {
        var bytes = Array(line.utf8)
        state.withLock { state in
            if state.size > 0 && state.size + bytes.count > maxBytes {
                rotate(&state)
            }
            guard state.fd >= 0 else {
                state.failedWrites += 1
                return
            }
            let written = bytes.withUnsafeMutableBytes { Glibc_write(state.fd, $0.baseAddress, $0.count) }
            if written < 0 { state.failedWrites += 1 } else { state.size += written }
        }
        bytes.removeAll()
    }

    /// Writes that could not be done (disk full, file gone and not re-creatable).
    public var failedWrites: Int { state.withLock { $0.failedWrites } }

    private func rotate(_ state: inout State) {
        close(state.fd)
        if maxBackups == 0 {
            state.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o640)
        } else {
            unlink("\(path).\(maxBackups)")
            for index in stride(from: maxBackups - 1, through: 1, by: -1) {
                rename("\(path).\(index)", "\(path).\(index + 1)")
            }
            rename(path, "\(path).1")
            state.fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        }
        state.size = 0
    }

    static func makeDirectories(for file: String) throws {
        var components = file.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        components.removeLast()
        var current = file.hasPrefix("/") ? "" : "."
        for component in components where !component.isEmpty {
            current += "/" + component
            if mkdir(current, 0o750) != 0 && errno != EEXIST {
                throw LogFileError(path: current, errno: errno)
            }
        }
    }
}

/// The log file could not be opened.
public struct LogFileError: Error, CustomStringConvertible {
    public let path: String
    public let errno: Int32
    public var description: String { "cannot open log file \(path): \(String(cString: strerror(errno)))" }
}

@inline(__always)
private func Glibc_write(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    write(fd, buffer, count)
}
