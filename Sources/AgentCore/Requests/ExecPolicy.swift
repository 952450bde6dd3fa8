#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FleetSupport

/// What an `exec` request may run, decided on the agent only: the master can ask, never
/// widen (a `config` request cannot name `exec.*`, see `AgentConfig.runtimeKeys`).
///
/// Built from `exec.allow` (argv patterns, see `ExecPattern`) and `exec.user` at start; a bad
/// entry is a configuration error (exit 2) naming it.
public struct ExecPolicy: Sendable {
    public let patterns: [ExecPattern]
    /// Who children run as; nil means the agent's own user.
    public let user: ExecUser?

    /// A request that matched: run `program` (the pattern's absolute path) with `argv`.
    public struct Authorized: Sendable, Equatable {
        public let program: String
        /// argv[0] is the pattern's program path, not the name the request used: a multi-call
        /// binary (busybox) picks its applet by argv[0], and `/bin/ls` and `/bin/rm` can be the
        /// same file, so the request's name could otherwise choose another program.
        public let argv: [String]
        public let pattern: ExecPattern
    }

    public init(allow: [String], user: String) throws(ConfigError) {
        var patterns: [ExecPattern] = []
        for entry in allow {
            do {
                patterns.append(try ExecPattern(parsing: entry))
            } catch {
                throw ConfigError(kind: .invalidValue, source: "configuration", key: "exec.allow", message: error.description)
            }
        }
        self.patterns = patterns
        if user.isEmpty {
            self.user = nil
        } else {
            do {
                let resolved = try ExecUser.resolve(user)
                try resolved.checkSwitchable()
                self.user = resolved
            } catch {
                throw ConfigError(kind: .invalidValue, source: "configuration", key: "exec.user", message: error.description)
            }
        }
    }

    public init(_ exec: AgentConfig.Exec) throws(ConfigError) {
        try self.init(allow: exec.allow, user: exec.user)
    }

    /// Checks a request's argv. argv[0] is a bare name (resolved in `searchPath`) or an
    /// absolute path; it matches an entry whose program is the same file after `realpath`.
    public func authorize(_ argv: [String], searchPath: String = ProgramSearch.cleanPath) throws(CommandRunner.Refusal) -> Authorized {
        guard let name = argv.first, !name.isEmpty else { throw .init(description: "argv is empty") }
        guard !argv.contains(where: { $0.utf8.contains(0) }) else {
            throw .init(description: "an argument contains a NUL byte")
        }
        guard !patterns.isEmpty else { throw .init(description: "exec is off on this agent (exec.allow is empty)") }
        let path: String
        if name.contains("/") {
            guard name.hasPrefix("/") else {
                throw .init(description: "'\(name)' is a relative path: give a bare name or an absolute path")
            }
            path = name
        } else {
            guard let found = ProgramSearch.resolve(name, searchPath: searchPath) else {
                throw .init(description: "'\(name)' is not on this agent's exec.allow list (no such program in \(searchPath))")
            }
            path = found
        }
        guard let real = ProgramSearch.realPath(path) else {
            throw .init(description: "'\(name)' is not on this agent's exec.allow list (\(path) does not exist)")
        }
        let arguments = Array(argv.dropFirst())
        let sameProgram = patterns.filter { ProgramSearch.realPath($0.program) == real }
        guard !sameProgram.isEmpty else {
            throw .init(description: "'\(name)' is not on this agent's exec.allow list")
        }
        guard let pattern = sameProgram.first(where: { $0.matches(arguments: arguments) }) else {
            let shown = ([name] + arguments).map(Self.quoted).joined(separator: " ")
            throw .init(description: "`\(shown)` matches none of this agent's exec.allow patterns for \(sameProgram[0].program) (arguments and their number must match)")
        }
        return Authorized(program: pattern.program, argv: [pattern.program] + arguments, pattern: pattern)
    }

    /// An argument as a reader would type it, for messages.
    static func quoted(_ argument: String) -> String {
        let plain = !argument.isEmpty && argument.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0) }
        return plain ? argument : "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
