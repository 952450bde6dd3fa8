import Logging

/// Process-wide logging setup shared by `master` and `agent`: human-readable lines to
/// stderr, and the same lines to a size-rotated file so a host keeps its own history
/// (the seed's "diagnose downtime" use) even when the master is unreachable.
public enum FleetLogging {
    /// Settings common to both binaries (the `logging:` section of their YAML).
    public struct Settings: Sendable {
        public var level: Logger.Level
        /// Log file; nil or empty means stderr only.
        public var file: String?
        public var rotationSizeMB: Int
        public var maxBackups: Int

        public init(level: Logger.Level, file: String?, rotationSizeMB: Int, maxBackups: Int) {
            self.level = level
            self.file = file
            self.rotationSizeMB = rotationSizeMB
            self.maxBackups = maxBackups
        }
    }

    /// Installs the handlers. Call once, first thing in `main`.
    /// - Returns: the rotating file, if one was opened.
    @discardableResult
    public static func bootstrap(_ settings: Settings) throws -> RotatingFile? {
        var rotating: RotatingFile?
        if let path = settings.file, !path.isEmpty {
            rotating = try RotatingFile(
                path: path, maxBytes: settings.rotationSizeMB * 1_048_576, maxBackups: settings.maxBackups
            )
        }
        let file = rotating
        LoggingSystem.bootstrap { label in
            var stderr = StreamLogHandler.standardError(label: label)
            stderr.logLevel = settings.level
            guard let file else { return stderr }
            return MultiplexLogHandler([stderr, FileLogHandler(label: label, file: file, level: settings.level)])
        }
        return rotating
    }

    /// Parses a level name as written in YAML (`trace`, `debug`, `info`, `notice`, `warning`
    /// or `warn`, `error`, `critical`).
    public static func level(_ name: String) -> Logger.Level? {
        switch name.lowercased() {
        case "warn": .warning
        default: Logger.Level(rawValue: name.lowercased())
        }
    }
}
