#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ExecPolicy {
    /// Programs that can be made to run other programs of the caller's choosing, by basename.
    ///
    /// Why a warning and not a refusal: some entries are deliberate (`/usr/bin/tar -tf
    /// /backups/*.tar` is fine, `/usr/bin/find /var/log -name *.gz` is not: find's own
    /// arguments could be `-exec`, but the pattern fixes them). Whoever writes the list decides;
    /// the agent makes sure they were told. A pattern with wildcards for such a program is
    /// usually a shell with extra steps: `/usr/bin/env *` runs anything.
    ///
    /// Entries ending in `*` match versioned names (`python3.11`, `perl5.36`, `lua5.4`).
    static let spawnsArbitraryPrograms: [(name: String, why: String)] = [
        // Shells: `-c` runs anything.
        ("sh", "a shell"), ("bash", "a shell"), ("dash", "a shell"), ("zsh", "a shell"), ("ksh*", "a shell"),
        ("mksh", "a shell"), ("ash", "a shell"), ("csh", "a shell"), ("tcsh", "a shell"), ("fish", "a shell"),
        ("rbash", "a shell"), ("pwsh", "a shell"), ("busybox", "a multi-call binary with a shell inside"),
        // Interpreters: `-e`/`-c` or a script path runs anything.
        ("python*", "an interpreter"), ("perl*", "an interpreter"), ("ruby*", "an interpreter"), ("irb", "an interpreter"),
        ("node", "an interpreter"), ("nodejs", "an interpreter"), ("deno", "an interpreter"), ("php*", "an interpreter"),
        ("lua*", "an interpreter"), ("luajit", "an interpreter"), ("tclsh*", "an interpreter"), ("wish*", "an interpreter"),
        ("expect", "an interpreter"), ("awk", "an interpreter (system())"), ("gawk", "an interpreter (system())"),
        ("mawk", "an interpreter (system())"), ("nawk", "an interpreter (system())"),
        ("sed", "a stream editor whose `e` command runs a shell"),
        // Run their arguments as a command.
        ("env", "runs its arguments as a command"), ("xargs", "runs its arguments as a command"),
        ("nohup", "runs its arguments as a command"), ("nice", "runs its arguments as a command"),
        ("ionice", "runs its arguments as a command"), ("timeout", "runs its arguments as a command"),
        ("stdbuf", "runs its arguments as a command"), ("setsid", "runs its arguments as a command"),
        ("chroot", "runs its arguments as a command"), ("unshare", "runs its arguments as a command"),
        ("nsenter", "runs its arguments as a command"), ("taskset", "runs its arguments as a command"),
        ("flock", "runs its arguments as a command"), ("watch", "runs its arguments as a command"),
        ("script", "runs its arguments as a command"), ("systemd-run", "runs its arguments as a command"),
        ("strace", "runs its arguments as a command"), ("ltrace", "runs its arguments as a command"),
        ("gdb", "runs programs and shell commands"), ("find", "runs commands with -exec/-ok"),
        // Privilege changers.
        ("sudo", "runs commands as another user"), ("su", "runs commands as another user"),
        ("doas", "runs commands as another user"), ("runuser", "runs commands as another user"),
        ("pkexec", "runs commands as another user"),
        // Remote shells and shell escapes.
        ("ssh", "runs commands (and ProxyCommand) remotely and locally"),
        ("vi", "has shell escapes (:!)"), ("vim*", "has shell escapes (:!)"), ("nvim", "has shell escapes (:!)"),
        ("view", "has shell escapes (:!)"), ("ex", "has shell escapes (:!)"), ("less", "has shell escapes (!)"),
        ("more", "has shell escapes (!)"), ("man", "runs a pager with shell escapes"),
        // Run configured or embedded commands.
        ("tar", "runs commands (--to-command, --use-compress-program, --checkpoint-action)"),
        ("git", "runs commands (aliases, hooks, -c core.pager/sshCommand)"),
        ("make", "runs the recipes of any Makefile it is pointed at"),
        ("crontab", "schedules commands"), ("at", "schedules commands"),
    ]

    /// One line per entry whose program can spawn arbitrary programs (checked by the
    /// basename of the path as written and of its real path, so a symlink such as
    /// `/usr/local/bin/tool -> /bin/bash` is caught), and per entry whose program is missing.
    public var warnings: [String] {
        patterns.compactMap { pattern in
            let written = ProgramSearch.basename(pattern.program)
            let real = ProgramSearch.realPath(pattern.program)
            let names = [written] + (real.map { [ProgramSearch.basename($0)] } ?? [])
            if let hit = names.lazy.compactMap(Self.risk(of:)).first {
                return "exec.allow entry '\(pattern.entry)' can spawn arbitrary programs: \(hit.name) is \(hit.why); whoever may send exec requests can run anything its arguments allow"
            }
            if real == nil {
                return "exec.allow entry '\(pattern.entry)': \(pattern.program) does not exist (requests for it are refused until it does)"
            }
            return nil
        }
    }

    static func risk(of basename: String) -> (name: String, why: String)? {
        for entry in spawnsArbitraryPrograms where fnmatch(entry.name, basename, 0) == 0 {
            return (basename, entry.why)
        }
        return nil
    }
}
