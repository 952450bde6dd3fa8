#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CSpawn
import Dispatch

/// Runs one command for an `exec` request (and the service installer's `systemctl`): argv
/// only, no shell, so no injection through arguments; an absolute path, never a PATH lookup;
/// output capped per stream so a chatty command cannot exhaust the agent's memory.
///
/// The child is contained (see `Sources/CSpawn/spawn.c`): its own session and process group,
/// a fixed environment with nothing of the agent's (no `FLEET_*` secret), stdin `/dev/null`,
/// cwd `/`, every other descriptor closed, optionally another user. Its process group never
/// outlives the call: when the command exits or its timeout passes, whatever is left of the
/// group gets SIGTERM and, `killGrace` later, SIGKILL. Nothing here blocks without a bound,
/// so a grandchild that escaped the group and holds the output pipes cannot stop the answer.
public enum CommandRunner {
    public struct Outcome: Codable, Sendable, Equatable {
        public var exitCode: Int32?
        /// The signal that ended the process (SIGTERM or SIGKILL after a timeout).
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
        public init(description: String) { self.description = description }
    }

    /// Seconds between SIGTERM and SIGKILL for what is left of the process group.
    static let killGrace = 1.0
    /// After SIGKILL, how long to keep reading pipes something outside the group still holds.
    static let drainAfterKill = 0.5

    /// The child's whole environment: a fixed PATH (the one bare names are resolved in), a
    /// UTF-8 locale, and HOME of the user it runs as (or `/`).
    public static func environment(home: String?) -> [String] {
        ["PATH=\(ProgramSearch.cleanPath)", "LANG=C.UTF-8", "HOME=\(home.flatMap { $0.isEmpty ? nil : $0 } ?? "/")"]
    }

    /// Runs an authorized request as `user` (nil: the agent's own user).
    public static func run(_ command: ExecPolicy.Authorized, user: ExecUser?, timeout: Double, maxOutput: Int) throws -> Outcome {
        try run(program: command.program, argv: command.argv, user: user, timeout: timeout, maxOutput: maxOutput)
    }

    /// Runs `program` (an absolute path) with `argv`, blocking this thread: call it off the
    /// cooperative pool.
    public static func run(program: String, argv: [String], user: ExecUser? = nil, timeout: Double, maxOutput: Int) throws -> Outcome {
        guard program.hasPrefix("/") else { throw Refusal(description: "'\(program)' is not an absolute path") }
        let home = user?.home ?? ExecUser.current()?.home
        let env = environment(home: home)

        var stdoutPipe: [Int32] = [-1, -1]
        var stderrPipe: [Int32] = [-1, -1]
        guard fleet_pipe_cloexec(&stdoutPipe) == 0 else { throw Refusal(description: "pipe failed: \(errorText(errno))") }
        guard fleet_pipe_cloexec(&stderrPipe) == 0 else {
            let error = errno
            close(stdoutPipe[0])
            close(stdoutPipe[1])
            throw Refusal(description: "pipe failed: \(errorText(error))")
        }
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if devNull >= 0 { close(devNull) } }
        guard devNull >= 0 else {
            for fd in stdoutPipe + stderrPipe { close(fd) }
            throw Refusal(description: "cannot open /dev/null: \(errorText(errno))")
        }

        // Everything the child needs is made here, before the fork.
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup($0) } + [nil]
        defer {
            for pointer in cArgs { free(pointer) }
            for pointer in cEnv { free(pointer) }
        }
        let groups = user?.groups ?? []
        let started = monotonicSeconds()
        var pid: pid_t = 0
        var stage: UnsafePointer<CChar>?
        let rc: Int32 = program.withCString { path in
            groups.withUnsafeBufferPointer { groupList in
                cArgs.withUnsafeBufferPointer { args in
                    cEnv.withUnsafeBufferPointer { envp in
                        var request = fleet_spawn_request(
                            path: path, argv: args.baseAddress, envp: envp.baseAddress,
                            stdin_fd: devNull, stdout_fd: stdoutPipe[1], stderr_fd: stderrPipe[1],
                            change_user: user != nil && geteuid() == 0 ? 1 : 0,
                            uid: user?.uid ?? 0, gid: user?.gid ?? 0,
                            groups: groupList.baseAddress, group_count: Int32(groupList.count),
                            directory: nil
                        )
                        return fleet_spawn(&request, &pid, &stage)
                    }
                }
            }
        }
        close(stdoutPipe[1])
        close(stderrPipe[1])
        guard rc == 0 else {
            close(stdoutPipe[0])
            close(stderrPipe[0])
            let step = stage.map { String(cString: $0) } ?? "spawn"
            throw Refusal(description: "cannot run '\(program)': \(step): \(errorText(rc))")
        }

        var reader = OutputReader(stdout: stdoutPipe[0], stderr: stderrPipe[0], maxOutput: maxOutput)
        let exitFD = fleet_pidfd_open(pid)
        defer { if exitFD >= 0 { close(exitFD) } }
        func exited() -> Bool { fleet_child_exited(pid) != 0 }

        // Until the command exits or its time is up.
        let deadline = started + timeout
        var timedOut = false
        while !exited() {
            let remaining = deadline - monotonicSeconds()
            if remaining <= 0 {
                timedOut = true
                break
            }
            reader.pump(for: min(remaining, 1), watchExit: exitFD)
        }
        // The command is over; so is its process group. The leader is unreaped until after
        // the kills, so its pid (the group id) cannot have been reused by then.
        kill(-pid, SIGTERM)
        let graceEnd = monotonicSeconds() + killGrace
        while !(exited() && reader.isFinished), monotonicSeconds() < graceEnd {
            reader.pump(for: graceEnd - monotonicSeconds(), watchExit: exited() ? nil : exitFD)
        }
        kill(-pid, SIGKILL)
        let drainEnd = monotonicSeconds() + drainAfterKill
        while !reader.isFinished, monotonicSeconds() < drainEnd {
            reader.pump(for: drainEnd - monotonicSeconds(), watchExit: nil)
        }
        reader.closeAll()

        let status = reap(pid)
        let exitedNormally = status.map { ($0 & 0x7f) == 0 } ?? false
        return Outcome(
            exitCode: status.flatMap { exitedNormally ? ($0 >> 8) & 0xff : nil },
            signal: status.flatMap { exitedNormally ? nil : $0 & 0x7f },
            timedOut: timedOut,
            stdout: String(decoding: reader.out, as: UTF8.self), stderr: String(decoding: reader.err, as: UTF8.self),
            truncated: reader.truncated, durationSeconds: monotonicSeconds() - started
        )
    }

    /// The leader's wait status. It was sent SIGKILL, so this takes moments; a process stuck
    /// in the kernel (uninterruptible I/O) is left to a background thread to reap, and the
    /// answer goes out without its status rather than waiting with it.
    static func reap(_ pid: pid_t) -> Int32? {
        let giveUp = monotonicSeconds() + 2
        var status: Int32 = 0
        while true {
            let rc = waitpid(pid, &status, WNOHANG)
            if rc == pid { return status }
            if rc < 0 && errno != EINTR { return nil }
            if monotonicSeconds() >= giveUp { break }
            usleep(10_000)
        }
        DispatchQueue.global().async {
            var ignored: Int32 = 0
            while waitpid(pid, &ignored, 0) < 0 && errno == EINTR {}
        }
        return nil
    }

    /// Reads both output pipes with poll(2), keeping at most `maxOutput` bytes of each.
    struct OutputReader {
        let stdoutFD: Int32
        let maxOutput: Int
        var open: [Int32]
        var out: [UInt8] = []
        var err: [UInt8] = []
        var truncated = false
        var buffer = [UInt8](repeating: 0, count: 16_384)

        init(stdout: Int32, stderr: Int32, maxOutput: Int) {
            self.stdoutFD = stdout
            self.maxOutput = maxOutput
            self.open = [stdout, stderr]
        }

        var isFinished: Bool { open.isEmpty }

        /// Waits up to `seconds` for output and reads what is there. With `watchExit`, it
        /// also returns when the child exits: at once through its pidfd, or within a 20 ms
        /// tick where there is none.
        mutating func pump(for seconds: Double, watchExit exitFD: Int32?) {
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            var waitMs = max(0, seconds * 1000)
            if let exitFD {
                if exitFD >= 0 {
                    fds.append(pollfd(fd: exitFD, events: Int16(POLLIN), revents: 0))
                } else {
                    waitMs = min(waitMs, 20)
                }
            }
            guard !fds.isEmpty else {
                usleep(useconds_t(waitMs * 1000))
                return
            }
            let ready = poll(&fds, nfds_t(fds.count), Int32(waitMs.rounded(.up)))
            guard ready > 0 else { return }
            for entry in fds where entry.revents != 0 && open.contains(entry.fd) {
                let count = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                if count <= 0 {
                    close(entry.fd)
                    open.removeAll { $0 == entry.fd }
                    continue
                }
                let isOut = entry.fd == stdoutFD
                let room = maxOutput - (isOut ? out.count : err.count)
                if room < count { truncated = true }
                if room > 0 {
                    let kept = buffer[0..<min(room, count)]
                    if isOut { out.append(contentsOf: kept) } else { err.append(contentsOf: kept) }
                }
            }
        }

        mutating func closeAll() {
            for fd in open { close(fd) }
            open.removeAll()
        }
    }

    static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
