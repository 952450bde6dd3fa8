#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs one allowed command for an `exec` request: argv only (no shell, so no injection
/// through arguments), a timeout after which the process is killed, and output capped per
/// stream so a chatty command cannot exhaust the agent's memory.
public enum CommandRunner {
    public struct Outcome: Codable, Sendable, Equatable {
        public var exitCode: Int32?
        /// The signal that ended the process (SIGKILL after a timeout).
        public var signal: Int32?
        public var timedOut: Bool
        public var stdout: String
        public var stderr: String
        /// True when output went past the cap and was cut.
        public var truncated: Bool
        public var durationSeconds: Double
    }

    public struct Refusal: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// Checks `argv[0]` against the allow-list: an entry matches when it is exactly argv[0].
    /// Entries with a `/` are exact paths; bare names are looked up in PATH at run time.
    public static func check(_ argv: [String], allow: [String]) throws {
        guard let program = argv.first, !program.isEmpty else { throw Refusal(description: "argv is empty") }
        guard allow.contains(program) else {
            throw Refusal(description: "'\(program)' is not on this agent's exec.allow list")
        }
    }

    /// Runs `argv` (blocking this thread; call it off the cooperative pool).
    public static func run(_ argv: [String], timeout: Double, maxOutput: Int) throws -> Outcome {
        var stdoutPipe: [Int32] = [0, 0]
        var stderrPipe: [Int32] = [0, 0]
        guard pipe(&stdoutPipe) == 0, pipe(&stderrPipe) == 0 else { throw Refusal(description: "pipe failed: errno \(errno)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)
        for fd in [stdoutPipe[0], stdoutPipe[1], stderrPipe[0], stderrPipe[1]] {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
        var pid: pid_t = 0
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        let started = monotonicSeconds()
        let rc = posix_spawnp(&pid, argv[0], &actions, nil, cArgs, environ)
        close(stdoutPipe[1])
        close(stderrPipe[1])
        guard rc == 0 else {
            close(stdoutPipe[0])
            close(stderrPipe[0])
            throw Refusal(description: "cannot run '\(argv[0])': \(String(cString: strerror(rc)))")
        }

        var out: [UInt8] = [], err: [UInt8] = []
        var truncated = false, timedOut = false
        var open = [stdoutPipe[0], stderrPipe[0]]
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while !open.isEmpty {
            let remaining = timeout - (monotonicSeconds() - started)
            if remaining <= 0 {
                timedOut = true
                kill(pid, SIGKILL)
                break
            }
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), Int32(min(remaining, 1) * 1000))
            if ready < 0 && errno != EINTR { break }
            for entry in fds where entry.revents != 0 {
                let count = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                if count <= 0 {
                    close(entry.fd)
                    open.removeAll { $0 == entry.fd }
                    continue
                }
                let isOut = entry.fd == stdoutPipe[0]
                let room = maxOutput - (isOut ? out.count : err.count)
                if room < count { truncated = true }
                if room > 0 {
                    if isOut { out.append(contentsOf: buffer[0..<min(room, count)]) } else { err.append(contentsOf: buffer[0..<min(room, count)]) }
                }
            }
        }
        for fd in open { close(fd) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = (status & 0x7f) == 0
        return Outcome(
            exitCode: exited ? (status >> 8) & 0xff : nil, signal: exited ? nil : status & 0x7f, timedOut: timedOut,
            stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self), truncated: truncated,
            durationSeconds: monotonicSeconds() - started
        )
    }

    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
