import CSpawn
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process started with CSpawn's fork + execve, for everything the master, the bench
/// and the tests start.
///
/// Why not Foundation's `Process`: on Linux its `run()` copies a whole 256-byte `d_name` out
/// of each `/proc/self/fd` dirent while it looks for descriptors to close, reading past
/// glibc's buffer when a record sits at its end; the process then dies with SIGSEGV in
/// `memcpy` now and then (swift-corelibs-foundation#5472, fixed after Swift 6.3; it ended a
/// full test run here). CSpawn closes descriptors with close_range instead, and gives the
/// child its own session, so `signalGroup` reaches whatever the child started.
///
/// The child is reaped by this object only (`waitpid` on its pid, never -1), and is never
/// signalled once reaped, so a reused pid is never hit.
public final class ChildProcess: Sendable {
    /// How the child ended.
    public enum Termination: Sendable, Equatable, CustomStringConvertible {
        case exited(Int32)
        case signalled(Int32)

        /// The exit code, or the signal number (Foundation's `terminationStatus` convention).
        public var status: Int32 {
            switch self {
            case .exited(let code): return code
            case .signalled(let signal): return signal
            }
        }

        public var description: String {
            switch self {
            case .exited(let code): return "exit \(code)"
            case .signalled(let signal): return "signal \(signal)"
            }
        }
    }

    /// Where one of the child's standard streams goes.
    public enum Stream: Sendable {
        /// /dev/null.
        case null
        /// This process's own descriptor (0, 1 or 2).
        case inherit
        /// A file, created 0644 if missing; appended to, or truncated first.
        case file(String, append: Bool = true)
        /// A descriptor of this process (a pipe's end, say); it stays open here.
        case descriptor(Int32)
    }

    public struct SpawnError: Error, CustomStringConvertible {
        public let description: String
    }

    public let pid: pid_t
    public let executable: String
    public let arguments: [String]
    private let reaped = Mutex<Termination?>(nil)

    /// Starts `executable` (an absolute path: no PATH search) with `arguments` (argv[1...]).
    ///
    /// - Parameters:
    ///   - environment: the child's whole environment; nil passes this process's own.
    ///   - directory: its working directory; nil is this process's own.
    public init(
        executable: String, arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
        stdin: Stream = .null, stdout: Stream = .inherit, stderr: Stream = .inherit
    ) throws(SpawnError) {
        guard executable.hasPrefix("/") else { throw SpawnError(description: "\(executable): not an absolute path") }
        self.executable = executable
        self.arguments = arguments

        var opened: [Int32] = []
        defer { for fd in opened { close(fd) } }
        func descriptor(_ stream: Stream, standard: Int32, input: Bool) throws(SpawnError) -> Int32 {
            let path: String
            var flags = O_CLOEXEC
            switch stream {
            case .inherit: return standard
            case .descriptor(let fd): return fd
            case .null:
                path = "/dev/null"
                flags |= input ? O_RDONLY : O_WRONLY
            case .file(let file, let append):
                path = file
                flags |= input ? O_RDONLY : (O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC))
            }
            let fd = open(path, flags, 0o644)
            guard fd >= 0 else { throw SpawnError(description: "\(path): \(String(cString: strerror(errno)))") }
            opened.append(fd)
            return fd
        }
        let inFD = try descriptor(stdin, standard: 0, input: true)
        let outFD = try descriptor(stdout, standard: 1, input: false)
        let errFD = try descriptor(stderr, standard: 2, input: false)

        // Everything the child needs is made before the fork (CSpawn says why).
        let cArgs = ([executable] + arguments).map { strdup($0) } + [nil]
        let cEnv: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        let cwd: String
        if let directory { cwd = directory } else { cwd = try Self.currentDirectory() }
        defer {
            for pointer in cArgs { free(pointer) }
            for pointer in cEnv ?? [] { free(pointer) }
        }
        var pid: pid_t = 0
        var stage: UnsafePointer<CChar>?
        let rc: Int32 = executable.withCString { path in
            cwd.withCString { directory in
                cArgs.withUnsafeBufferPointer { args in
                    Self.withEnvironment(cEnv) { envp in
                        var request = fleet_spawn_request(
                            path: path, argv: args.baseAddress, envp: envp,
                            stdin_fd: inFD, stdout_fd: outFD, stderr_fd: errFD,
                            change_user: 0, uid: 0, gid: 0, groups: nil, group_count: 0,
                            directory: directory
                        )
                        return fleet_spawn(&request, &pid, &stage)
                    }
                }
            }
        }
        guard rc == 0 else {
            let step = stage.map { String(cString: $0) } ?? "spawn"
            throw SpawnError(description: "cannot run \(executable): \(step): \(String(cString: strerror(rc)))")
        }
        self.pid = pid
    }

    private static func withEnvironment<R>(
        _ env: [UnsafeMutablePointer<CChar>?]?, _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>?) -> R
    ) -> R {
        guard let env else { return body(UnsafePointer(environ)) }
        return env.withUnsafeBufferPointer { body($0.baseAddress) }
    }

    private static func currentDirectory() throws(SpawnError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else {
            throw SpawnError(description: "no working directory to start the child in: \(String(cString: strerror(errno)))")
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// How it ended, or nil while it runs (never blocks; reaps it the first time it is seen).
    public var termination: Termination? {
        reaped.withLock { state in
            if let state { return state }
            var status: Int32 = 0
            var rc: pid_t
            repeat { rc = waitpid(pid, &status, WNOHANG) } while rc < 0 && errno == EINTR
            guard rc == pid else { return nil }
            // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
            let signal = status & 0x7f
            state = signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
            return state
        }
    }

    public var isRunning: Bool { termination == nil }

    /// Sends `signal` to the child, unless it has been reaped already.
    public func signal(_ signal: Int32) {
        reaped.withLock { state in
            if state == nil { _ = kill(pid, signal) }
        }
    }

    /// Sends `signal` to the child's process group (its session: whatever it started too).
    public func signalGroup(_ signal: Int32) {
        reaped.withLock { state in
            if state == nil { _ = kill(-pid, signal) }
        }
    }

    /// Waits for the child to end, polling every 20 ms without blocking a thread; nil if
    /// `timeout` passes first.
    public func wait(timeout: Duration? = nil) async -> Termination? {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            if let termination { return termination }
            if let deadline, ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits for the child to end, blocking this thread (not for the cooperative pool).
    public func waitBlocking() -> Termination {
        while true {
            if let termination { return termination }
            usleep(10_000)
        }
    }

    /// SIGTERM, then SIGKILL if it is still running after `grace`; returns how it ended.
    @discardableResult
    public func stop(grace: Duration = .seconds(10)) async -> Termination {
        if let termination { return termination }
        signal(SIGTERM)
        if let ended = await wait(timeout: grace) { return ended }
        signal(SIGKILL)
        return await wait()!
    }
}
