import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// docs/openapi.yaml is the contract: the gateway serves exactly it, and every operation in it
/// is routed (an unknown id may be 404, but with our error body, not "no such route").
@Suite("OpenAPI", .serialized)
struct OpenAPITests {
    static let specPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/openapi.yaml").path

    @Test("served /openapi.yaml is docs/openapi.yaml, and every documented operation exists")
    func servedAndRouted() async throws {
        let spec = try String(contentsOfFile: Self.specPath, encoding: .utf8)
        try await withCluster("openapi") { cluster in
            let master = try await cluster.startServe()
            let (status, body) = try await HTTP.get("\(master.http)/openapi.yaml")
            #expect(status == 200)
            #expect(String(decoding: body, as: UTF8.self) == spec, "run python3 docs/embed_openapi.py")

            // Paths are the two-space-indented keys under `paths:`, operations the four-space ones.
            var operations: [(method: String, path: String)] = []
            var current: String?
            var inPaths = false
            for line in spec.split(separator: "\n", omittingEmptySubsequences: false) {
                if line == "paths:" { inPaths = true; continue }
                guard inPaths else { continue }
                if line.hasPrefix("  /"), line.hasSuffix(":") { current = String(line.dropFirst(2).dropLast()) }
                for method in ["get", "post", "delete"] where line == "    \(method):" {
                    if let current { operations.append((method.uppercased(), current)) }
                }
            }
            #expect(operations.count >= 15, "\(operations)")
            for (method, template) in operations where template != "/api/v1/events" {
                let path = template.replacingOccurrences(of: "{id}", with: "no-such-id")
                var request = URLRequest(url: URL(string: master.http + path)!)
                request.httpMethod = method
                request.setValue("Bearer \(cluster.adminToken)", forHTTPHeaderField: "Authorization")
                if method == "POST" { request.httpBody = Data(#"{"kind":"status"}"#.utf8) }
                let (data, response) = try await HTTP.session.data(for: request)
                let code = (response as? HTTPURLResponse)?.statusCode ?? 0
                let routed = code != 404 || String(decoding: data, as: UTF8.self).contains("\"error\"")
                #expect(routed, "\(method) \(path): \(code) with no error body, so no route")
            }
        }
    }
}
