import FleetProtocol
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// The dashboard at `/`: its files come from the gateway binary exactly as they are in dashboard/,
/// by exact name only, under a strict CSP; and a headless Chromium drives it against a live master
/// with three agents (Tests/browser/dashboard_test.py, selenium from `.ci/install-deps`).
@Suite("Dashboard", .serialized)
struct DashboardTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let dashboard = root.appendingPathComponent("dashboard")
    static let python = root.appendingPathComponent(".build-venv/bin/python")
    static let script = root.appendingPathComponent("Tests/browser/dashboard_test.py")
    static let chromium = "/usr/bin/chromium"
    static let chromedriver = "/usr/bin/chromedriver"

    /// The files embed.py embeds.
    static func sourceFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dashboard.path)
            .filter { ["html", "css", "js", "svg"].contains(URL(fileURLWithPath: $0).pathExtension) }
            .sorted()
    }

    static func get(_ url: String, headers: [String: String] = [:]) async throws -> (status: Int, headers: [String: String], body: Data) {
        var request = URLRequest(url: URL(string: url)!)
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await HTTP.session.data(for: request)
        let http = response as? HTTPURLResponse
        var fields: [String: String] = [:]
        for (name, value) in http?.allHeaderFields ?? [:] { fields["\(name)".lowercased()] = "\(value)" }
        return (http?.statusCode ?? 0, fields, data)
    }

    /// What is missing for the browser test, if anything.
    static func browserMissing() -> String? {
        let files = FileManager.default
        var missing: [String] = []
        if !files.isExecutableFile(atPath: python.path) { missing.append(python.path) }
        let lib = root.appendingPathComponent(".build-venv/lib")
        let selenium = ((try? files.contentsOfDirectory(atPath: lib.path)) ?? []).contains {
            files.fileExists(atPath: lib.appendingPathComponent("\($0)/site-packages/selenium").path)
        }
        if !selenium { missing.append("selenium in .build-venv") }
        for binary in [chromium, chromedriver] where !files.isExecutableFile(atPath: binary) { missing.append(binary) }
        return missing.isEmpty ? nil : "missing \(missing.joined(separator: ", ")): run `bash .ci/install-deps`"
    }

    @Test("headless Chromium: sign in, three agents in the table, open one, 'Status now' shows the result; no console errors")
    func browser() async throws {
        if let missing = Self.browserMissing() {
            Issue.record("the dashboard browser test cannot run: \(missing)")
            return
        }
        try await withCluster("dashboard") { cluster in
            let master = try await cluster.startServe()
            var ids: [String] = []
            for (index, role) in ["web", "db", "web"].enumerated() {
                let (_, id) = try await cluster.startAgent(
                    "agent-\(index + 1)", urls: [master.ws], extra: ["--set", "agent.labels.role=\(role)", "--set", "exec.allow=[/usr/bin/uptime]"]
                )
                ids.append(id)
            }
            let online = await eventually(timeout: .seconds(15)) {
                let states = try await cluster.states(master)
                return ids.allSatisfy { states[$0] == .online }
            }
            try #require(online, "agents not online:\n\(cluster.logs())")

            let screenshot = cluster.directory.appendingPathComponent("dashboard.png")
            let browser = try cluster.start("browser", Self.python.path, [
                Self.script.path, "--url", master.http, "--token", cluster.adminToken, "--agents", ids.joined(separator: ","),
                "--screenshot", screenshot.path,
            ])
            let status = await browser.waitForExit(timeout: .seconds(90))
            if status == nil { await browser.stop() }
            let output = ((try? String(contentsOfFile: browser.stdoutPath, encoding: .utf8)) ?? "") + browser.stderr

            // Kept where people look for build output, whatever happened.
            for (name, copy) in [("dashboard.png", "dashboard.png"), ("dashboard-overview.png", "dashboard-overview.png")] {
                let source = cluster.directory.appendingPathComponent(name)
                let target = Self.root.appendingPathComponent(".build/\(copy)")
                guard FileManager.default.fileExists(atPath: source.path) else { continue }
                try? FileManager.default.removeItem(at: target)
                try? FileManager.default.copyItem(at: source, to: target)
            }
            #expect(status == 0, "dashboard_test.py \(status.map { "exited \($0)" } ?? "did not finish in 90 s"):\n\(output)\n\(cluster.logs())")
            #expect(FileManager.default.fileExists(atPath: screenshot.path), "no screenshot at \(screenshot.path)")
        }
    }

    @Test("GET / is the page under a strict CSP; /dashboard/<name> by exact name with its type; anything else 404")
    func served() async throws {
        try await withCluster("dashboard-static") { cluster in
            let master = try await cluster.startServe()

            let page = try await Self.get("\(master.http)/")
            #expect(page.status == 200)
            #expect(page.headers["content-type"] == "text/html; charset=utf-8")
            #expect(page.headers["cache-control"] == "no-cache")
            let csp = page.headers["content-security-policy"] ?? ""
            for directive in ["default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
                #expect(csp.contains(directive), "CSP \(csp) lacks \(directive)")
            }
            #expect(!csp.contains("unsafe"), "CSP allows something unsafe: \(csp)")
            let html = String(decoding: page.body, as: UTF8.self)
            #expect(html.contains(#"<script type="module" src="/dashboard/app.js"></script>"#))
            // No inline script or style for the CSP to refuse: every <script> has a src, no style attributes.
            #expect(html.components(separatedBy: "<script").count == html.components(separatedBy: "<script type=\"module\" src=").count)
            #expect(!html.contains(" style=") && !html.contains("<style"))

            let script = try await Self.get("\(master.http)/dashboard/app.js")
            #expect(script.status == 200)
            #expect(script.headers["content-type"] == "text/javascript; charset=utf-8")
            #expect(String(decoding: script.body, as: UTF8.self).contains("import"))
            let css = try await Self.get("\(master.http)/dashboard/style.css")
            #expect(css.status == 200 && css.headers["content-type"] == "text/css; charset=utf-8")
            let etag = try #require(script.headers["etag"])
            let again = try await Self.get("\(master.http)/dashboard/app.js", headers: ["If-None-Match": etag])
            #expect(again.status == 304, "a matching ETag is 304, got \(again.status)")

            // Sent byte for byte (URLSession would tidy these paths up first).
            for path in [
                "/dashboard/nope.js", "/dashboard/embed.py", "/dashboard/APP.JS", "/dashboard/", "/dashboard", "/dashboard/sub/app.js",
                "/dashboard/../openapi.yaml", "/dashboard/..%2Fopenapi.yaml", "/dashboard/%2e%2e/openapi.yaml", "/dashboard/%2e%2e%2fopenapi.yaml",
                "/dashboard/..%2f..%2fPackage.swift", "/dashboard/./app.js", "/index.html",
            ] {
                let status = try RawHTTP.status(port: master.port, request: "GET \(path) HTTP/1.1\nHost: 127.0.0.1\nConnection: close\n\n")
                #expect(status == 404, "GET \(path) answered \(status)")
            }
        }
    }

    @Test("the gateway's embedded files are dashboard/'s files")
    func embedded() async throws {
        let names = try Self.sourceFiles()
        #expect(names.contains("index.html") && names.contains("app.js") && names.contains("style.css"))
        // The generated table names exactly these files.
        let generated = try String(
            contentsOf: Self.root.appendingPathComponent("Sources/Gateway/Dashboard/DashboardAssets.swift"), encoding: .utf8
        )
        let embedded = generated.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("        \""), line.hasSuffix("\": Asset(") else { return nil }
            return String(line.dropFirst(9).dropLast(9))
        }
        #expect(embedded.sorted() == names, "run python3 dashboard/embed.py")

        try await withCluster("dashboard-embedded") { cluster in
            let master = try await cluster.startServe()
            for name in names {
                let file = try Data(contentsOf: Self.dashboard.appendingPathComponent(name))
                let served = try await Self.get("\(master.http)/dashboard/\(name)")
                #expect(served.status == 200 && served.body == file, "\(name) served differs from dashboard/\(name): run python3 dashboard/embed.py")
            }
            let index = try await Self.get("\(master.http)/")
            #expect(index.body == (try Data(contentsOf: Self.dashboard.appendingPathComponent("index.html"))), "run python3 dashboard/embed.py")
        }
    }
}
