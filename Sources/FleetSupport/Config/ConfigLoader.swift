#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Yams

/// Loads a typed configuration from layers, each over the one before:
/// built-in defaults <- YAML file <- environment variables <- `--set key=value` flags.
///
/// The defaults are the schema: they are encoded to a YAML tree once, and every key a
/// layer supplies must exist in that tree (a key whose default is an empty mapping, like
/// `labels`, takes any keys below it). So a typo is an error naming the file, the key and
/// a likely intended key, never a silently ignored setting. Types are checked by decoding
/// the merged tree into `Config`; a mismatch names the key and where its value came from.
public struct ConfigLoader<Config: Codable> {
    public var defaults: Config
    /// Environment variables starting with this (e.g. `FLEET_MASTER_`) address keys:
    /// `FLEET_MASTER_SERVER_PORT` -> `server.port`, `FLEET_MASTER_HEARTBEAT_CLEANUP_INTERVAL`
    /// -> `heartbeat.cleanup_interval`. An unknown one is an error.
    public var environmentPrefix: String

    public init(defaults: Config, environmentPrefix: String) {
        self.defaults = defaults
        self.environmentPrefix = environmentPrefix
    }

    /// - Parameters:
    ///   - file: a YAML file; nil means defaults only. A path that does not exist is an error.
    ///   - environment: usually `ProcessInfo.processInfo.environment`.
    ///   - overrides: `key.path=value` strings from `--set`; values are YAML scalars or flow
    ///     collections (`[a, b]`).
    public func load(file: String?, environment: [String: String] = [:], overrides: [String] = []) throws -> Config {
        let schema = try Self.tree(of: defaults)
        var merged = schema
        var origins: [String: String] = [:]

        if let file {
            let text = try Self.read(file)
            let node: Node?
            do {
                node = try Yams.compose(yaml: text)
            } catch {
                throw ConfigError(kind: .syntax, source: file, message: "not valid YAML: \(error)")
            }
            if let node {
                guard case .mapping = node else {
                    throw ConfigError(kind: .syntax, source: file, message: "the top level must be a mapping of keys")
                }
                try Self.check(node, against: schema, path: [], source: file)
                Self.merge(node, into: &merged, path: [], origin: { path, line in
                    origins[path] = line.map { "\(file) (line \($0))" } ?? file
                })
            }
        }

        let environmentKeys = Self.leafPaths(schema)
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix(environmentPrefix) {
            let suffix = String(name.dropFirst(environmentPrefix.count)).lowercased()
            guard let path = environmentKeys.first(where: { $0.joined(separator: "_") == suffix })
                ?? Self.freeFormPath(suffix, schema: schema) else {
                throw ConfigError(
                    kind: .unknownKey, source: "environment variable \(name)",
                    message: "does not name a configuration key (known: \(environmentKeys.map { environmentPrefix + $0.joined(separator: "_").uppercased() }.joined(separator: ", ")))"
                )
            }
            try Self.set(path, to: Self.valueNode(value), in: &merged)
            origins[path.joined(separator: ".")] = "environment variable \(name)"
        }

        for override in overrides {
            guard let equals = override.firstIndex(of: "=") else {
                throw ConfigError(kind: .invalidValue, source: "--set \(override)", message: "expected key.path=value")
            }
            let key = String(override[..<equals])
            let path = key.split(separator: ".").map(String.init)
            let single = Node.mapping(Self.nest(path, Self.valueNode(String(override[override.index(after: equals)...]))))
            try Self.check(single, against: schema, path: [], source: "--set \(key)")
            try Self.set(path, to: Self.valueNode(String(override[override.index(after: equals)...])), in: &merged)
            origins[key] = "--set \(key)"
        }

        let config: Config
        do {
            config = try YAMLDecoder().decode(Config.self, from: merged)
        } catch let error as DecodingError {
            let (key, detail) = Self.describe(error)
            let source = key.flatMap { origins[$0] } ?? file ?? "defaults"
            throw ConfigError(kind: .wrongType, source: source, key: key, message: detail)
        }
        // Lists of mappings (alert rules, webhooks) have no schema in the defaults (their
        // default is empty), so a key there is checked the other way: encode what was decoded
        // and report any key of the input that did not survive, i.e. that nothing reads.
        if let dropped = Self.dropped(in: merged, comparedTo: try Self.tree(of: config), path: []) {
            // The list came from the file (its own line is in the message), the environment or --set.
            let origin = origins[dropped.path.split(separator: "[").first.map(String.init) ?? dropped.path]
            let source = (file.map { origin?.hasPrefix($0) ?? true } ?? false) ? file! : (origin ?? file ?? "configuration")
            let line = dropped.line.map { " (line \($0))" } ?? ""
            throw ConfigError(kind: .unknownKey, source: source, key: dropped.path, message: "unknown key\(line)")
        }
        return config
    }

    /// The first key present in `input` but not in `output`, looking only inside lists.
    static func dropped(in input: Node, comparedTo output: Node, path: [String], insideList: Bool = false) -> (path: String, line: Int?)? {
        switch (input, output) {
        case (.mapping(let given), .mapping(let kept)):
            for (keyNode, value) in given {
                let key = keyNode.string ?? ""
                guard let survived = kept[key] else {
                    if insideList { return ((path + [key]).joined(separator: ".").replacingOccurrences(of: ".[", with: "["), keyNode.mark?.line) }
                    continue
                }
                if let found = dropped(in: value, comparedTo: survived, path: path + [key], insideList: insideList) { return found }
            }
        case (.sequence(let given), .sequence(let kept)):
            for (index, item) in given.enumerated() where index < kept.count {
                if let found = dropped(in: item, comparedTo: kept[index], path: path + ["[\(index)]"], insideList: true) { return found }
            }
        default:
            break
        }
        return nil
    }

    // MARK: - Tree helpers

    static func tree(of value: Config) throws -> Node {
        let yaml = try YAMLEncoder().encode(value)
        return try Yams.compose(yaml: yaml) ?? Node.mapping(Node.Mapping([]))
    }

    static func read(_ file: String) throws -> String {
        guard FileManager.default.fileExists(atPath: file) else {
            throw ConfigError(kind: .missingFile, source: file, message: "file not found")
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ConfigError(kind: .unreadable, source: file, message: "cannot read the file (permissions?)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Parses a value given on the command line or in the environment as YAML, so `9000` is a
    /// number, `true` a boolean and `[a, b]` a list, as they would be in the file.
    static func valueNode(_ text: String) -> Node {
        if let node = try? Yams.compose(yaml: text), case .scalar = node { return node }
        if let node = try? Yams.compose(yaml: text), case .sequence = node { return node }
        return Node(text)
    }

    static func nest(_ path: [String], _ leaf: Node) -> Node.Mapping {
        guard let first = path.first else { return Node.Mapping([]) }
        if path.count == 1 { return Node.Mapping([(Node(first), leaf)]) }
        return Node.Mapping([(Node(first), Node.mapping(nest(Array(path.dropFirst()), leaf)))])
    }

    /// Every key in `node` must exist in `schema`; reports the first that does not.
    static func check(_ node: Node, against schema: Node, path: [String], source: String) throws {
        guard case .mapping(let mapping) = node else { return }
        guard case .mapping(let known) = schema else { return }
        if known.isEmpty { return }  // free-form map (labels)
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? "\(keyNode)"
            let full = (path + [key]).joined(separator: ".")
            guard let expected = known[key] else {
                let line = keyNode.mark.map { " (line \($0.line))" } ?? ""
                let candidates: [String] = Array(known.keys.compactMap(\.string))
                var message = "unknown key\(line)"
                if let guess = closest(to: key, in: candidates) {
                    message += "; did you mean '\((path + [guess]).joined(separator: "."))'?"
                } else {
                    message += "; known keys here: \(candidates.sorted().joined(separator: ", "))"
                }
                throw ConfigError(kind: .unknownKey, source: source, key: full, message: message)
            }
            if case .mapping = expected {
                if case .mapping = value {
                    try check(value, against: expected, path: path + [key], source: source)
                } else if !(value.null != nil) {
                    let line = value.mark.map { " (line \($0.line))" } ?? ""
                    throw ConfigError(kind: .wrongType, source: source, key: full, message: "expected a mapping of keys\(line)")
                }
            }
        }
    }

    /// Overlays `node` on `target` key by key; lists and scalars replace.
    static func merge(_ node: Node, into target: inout Node, path: [String], origin: (String, Int?) -> Void) {
        guard case .mapping(let overlay) = node, case .mapping(var base) = target else {
            target = node
            origin(path.joined(separator: "."), node.mark?.line)
            return
        }
        for (keyNode, value) in overlay {
            let key = keyNode.string ?? ""
            if var existing = base[key], case .mapping = existing, case .mapping = value {
                merge(value, into: &existing, path: path + [key], origin: origin)
                base[key] = existing
            } else {
                base[key] = value
                origin((path + [key]).joined(separator: "."), value.mark?.line)
            }
        }
        target = .mapping(base)
    }

    static func set(_ path: [String], to value: Node, in target: inout Node) throws {
        guard let first = path.first else { return }
        guard case .mapping(var base) = target else { return }
        if path.count == 1 {
            base[first] = value
        } else {
            var child = base[first] ?? .mapping(Node.Mapping([]))
            try set(Array(path.dropFirst()), to: value, in: &child)
            base[first] = child
        }
        target = .mapping(base)
    }

    /// All key paths that end in a value (not a mapping).
    static func leafPaths(_ node: Node, prefix: [String] = []) -> [[String]] {
        guard case .mapping(let mapping) = node else { return [prefix] }
        if mapping.isEmpty { return [] }
        return mapping.flatMap { key, value in leafPaths(value, prefix: prefix + [key.string ?? ""]) }
    }

    /// `labels_role` -> `labels.role` when `labels` is a free-form map.
    static func freeFormPath(_ suffix: String, schema: Node) -> [String]? {
        guard case .mapping(let mapping) = schema else { return nil }
        for (key, value) in mapping {
            guard let name = key.string, case .mapping(let inner) = value else { continue }
            if inner.isEmpty, suffix.hasPrefix(name + "_"), suffix.count > name.count + 1 {
                return [name, String(suffix.dropFirst(name.count + 1))]
            }
            if suffix.hasPrefix(name + "_"), let rest = freeFormPath(String(suffix.dropFirst(name.count + 1)), schema: value) {
                return [name] + rest
            }
        }
        return nil
    }

    static func describe(_ error: DecodingError) -> (key: String?, detail: String) {
        func path(_ context: DecodingError.Context) -> String? {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? nil : keys.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .typeMismatch(let type, let context):
            return (path(context), "expected \(friendly(type)): \(context.debugDescription)")
        case .valueNotFound(let type, let context):
            return (path(context), "expected \(friendly(type)), found nothing")
        case .keyNotFound(let key, let context):
            return ((path(context).map { $0 + "." } ?? "") + key.stringValue, "required key missing")
        case .dataCorrupted(let context):
            return (path(context), context.debugDescription)
        @unknown default:
            return (nil, "\(error)")
        }
    }

    static func friendly(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Int32.Type, is Int64.Type, is UInt.Type, is UInt64.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        case is Bool.Type: "true or false"
        case is String.Type: "a string"
        default: "\(type)"
        }
    }

    /// The candidate closest to `key` by edit distance, if it is close enough to be a typo.
    static func closest(to key: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, editDistance(key, $0)) }.min { $0.1 < $1.1 }
        guard let (best, distance) = scored, distance <= max(2, key.count / 3) else { return nil }
        return best
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
