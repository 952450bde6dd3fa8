import Logging
import Synchronization

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

    /// The level in force, changeable at runtime (an agent's `config` request): every handler
    /// installed by `bootstrap` consults it on each line.
    private static let currentLevel = Atomic<UInt8>(UInt8(Logger.Level.info.ordinal))

    public static func setLevel(_ level: Logger.Level) {
        currentLevel.store(level.ordinal, ordering: .relaxed)
    }

    public static var level: Logger.Level {
        Logger.Level.allCases.first { $0.ordinal == currentLevel.load(ordering: .relaxed) } ?? .info
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
        setLevel(settings.level)
        LoggingSystem.bootstrap { label in
            var handlers: [any LogHandler] = [DynamicLevel(StreamLogHandler.standardError(label: label))]
            if let file { handlers.append(DynamicLevel(FileLogHandler(label: label, file: file, level: settings.level))) }
            return MultiplexLogHandler(handlers)
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

extension Logger.Level {
    var ordinal: UInt8 {
        switch self {
        case .trace: 0
        case .debug: 1
        case .info: 2
        case .notice: 3
        case .warning: 4
        case .error: 5
        case .critical: 6
        }
    }
}

/// Wraps a handler so its level is `FleetLogging.level`, read at every log call.
/// Only used with value-type handlers (Stream, File), so it is Sendable like them.
struct DynamicLevel<Wrapped: LogHandler>: LogHandler {
    var wrapped: Wrapped

    init(_ wrapped: Wrapped) {
        self.wrapped = wrapped
    }

    /// Process-wide: a library setting its own logger's level must not change everyone's,
    /// so the setter is ignored; `FleetLogging.setLevel` is the one way to change it.
    var logLevel: Logger.Level {
        get { FleetLogging.level }
        set {}
    }

    var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { wrapped.metadataProvider }
        set { wrapped.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        wrapped.log(event: event)
    }
}
