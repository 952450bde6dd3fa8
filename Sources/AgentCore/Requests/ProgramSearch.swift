#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds programs the way `exec` requests may name them, without trusting the agent's own
/// environment: a bare name is looked up in one fixed PATH (the agent's PATH could have been
/// set by whoever started it, and a directory early in it could hold a look-alike), and paths
/// are compared after `realpath`, so `/bin/systemctl` and `/usr/bin/systemctl` on a merged-/usr
/// system are the same program.
public enum ProgramSearch {
    /// The PATH used to resolve bare names, and the PATH every `exec` child gets.
    public static let cleanPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The first executable regular file named `name` in `searchPath`, or nil.
    /// `name` must be a bare name (no `/`).
    public static func resolve(_ name: String, searchPath: String = cleanPath) -> String? {
        guard !name.isEmpty, !name.contains("/") else { return nil }
        for directory in searchPath.split(separator: ":", omittingEmptySubsequences: true) where directory.hasPrefix("/") {
            let candidate = directory.hasSuffix("/") ? "\(directory)\(name)" : "\(directory)/\(name)"
            if isExecutableFile(candidate) { return candidate }
        }
        return nil
    }

    /// `path` with every symbolic link, `.` and `..` resolved; nil if it does not exist.
    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func isExecutableFile(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return false }
        return access(path, X_OK) == 0
    }

    /// The last path component (`/usr/bin/python3` -> `python3`).
    static func basename(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}
