import Foundation

/// One measured figure, with the target it is held against (if the issue set one).
struct Figure: Codable, Sendable {
    var name: String
    var value: Double
    var unit: String
    /// e.g. "<= 16 KB"; nil for figures reported for context.
    var target: String?
    /// Whether `value` meets `target` (nil when there is no target).
    var met: Bool?

    init(_ name: String, _ value: Double, _ unit: String, target: String? = nil, met: Bool? = nil) {
        self.name = name
        self.value = value
        self.unit = unit
        self.target = target
        self.met = met
    }

    static func atMost(_ name: String, _ value: Double, _ unit: String, _ limit: Double) -> Figure {
        Figure(name, value, unit, target: "<= \(Self.format(limit)) \(unit)", met: value <= limit)
    }

    static func atLeast(_ name: String, _ value: Double, _ unit: String, _ limit: Double) -> Figure {
        Figure(name, value, unit, target: ">= \(Self.format(limit)) \(unit)", met: value >= limit)
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e12 { return String(Int(value)) }
        if abs(value) >= 100 { return String(format: "%.0f", value) }
        if abs(value) >= 10 { return String(format: "%.1f", value) }
        return String(format: "%.3g", value)
    }
}

/// The result of one scenario run: what a person reads as a table and a machine as JSON.
struct ScenarioResult: Codable, Sendable {
    var scenario: String
    var topology: String
    var parameters: [String: String]
    var figures: [Figure]
    var date: String
    var machine: String
    var command: String

    init(scenario: String, topology: String, parameters: [String: String], figures: [Figure]) {
        self.scenario = scenario
        self.topology = topology
        self.parameters = parameters
        self.figures = figures
        date = ISO8601DateFormatter().string(from: Date())
        machine = Self.machine()
        command = CommandLine.arguments.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
    }

    static func machine() -> String {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let memory = ProcessInfo.processInfo.physicalMemory >> 30
        var model = "unknown cpu"
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }) {
            model = line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? model
        }
        return "\(cores) cores, \(memory) GiB, \(model)"
    }

    /// An aligned table for people.
    var table: String {
        var lines = ["\(scenario) — \(topology) — " + parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")]
        let nameWidth = max(6, figures.map(\.name.count).max() ?? 0)
        let valueWidth = max(5, figures.map { Figure.format($0.value).count + 1 + $0.unit.count }.max() ?? 0)
        lines.append("  " + "figure".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
            + "value".padding(toLength: valueWidth, withPad: " ", startingAt: 0) + "  target")
        for figure in figures {
            let value = "\(Figure.format(figure.value)) \(figure.unit)"
            var target = figure.target ?? ""
            if let met = figure.met { target += met ? "  met" : "  MISSED" }
            lines.append("  " + figure.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
                + String(repeating: " ", count: max(0, valueWidth - value.count)) + value + "  " + target)
        }
        return lines.joined(separator: "\n")
    }
}

/// Prints results and, when asked, appends them as JSON lines.
struct Reporter: Sendable {
    var jsonPath: String?

    func emit(_ result: ScenarioResult) throws {
        print(result.table)
        print("")
        guard let jsonPath else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var line = try encoder.encode(result)
        line.append(0x0A)
        if !FileManager.default.fileExists(atPath: jsonPath) { _ = FileManager.default.createFile(atPath: jsonPath, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: jsonPath))
        handle.seekToEndOfFile()
        handle.write(line)
        try handle.close()
    }
}
