import Bus
import Foundation

/// What a started role reports through `--ready-file`: where it can be reached. Tests and
/// scripts start roles on port 0 / `*` and read the real addresses here.
struct ReadyFile: Codable {
    var role: String
    var pid: Int32
    var http: String?
    var gatewayId: String?
    var bus: BusEndpoints?
    /// Where a registry or worker alone serves /metrics (`metrics.listen`).
    var metrics: String?

    /// Writes atomically (temp file + rename) so a reader never sees half a file.
    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(self)
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
