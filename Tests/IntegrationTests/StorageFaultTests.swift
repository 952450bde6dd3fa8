import FleetProtocol
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Spawn
import Testing

/// The registry's SQLite store under faults, with real processes: a full disk loses nothing
/// acknowledged, a corrupt file does not keep the registry down, and a backup of a running
/// registry restores.
@Suite("Storage faults", .serialized)
struct StorageFaultTests {
    @Test("disk full under load: /readyz degraded, errors counted, nothing acknowledged lost; once space is freed the kept batches land")
    func diskFull() async throws {
        try await withTmpfs(megabytes: 16) { mount in
            try await withCluster("disk-full") { cluster in
                let bus = try await cluster.startRegistry([
                    "--set", "data_dir=\(mount)", "--set", "logging.file=registry-logs/registry.log", "--set", "metrics.listen=127.0.0.1:0",
                ])
                let registry = try #require(cluster.process(named: "registry"))
                let metricsURL = try #require(try await cluster.ready(registry, file: "registry.json").metrics)
                let gateway = try await cluster.startGateway("gateway-a", bus: bus)
                try await cluster.startWorker("worker-1", bus: bus)
                let (_, id1) = try await cluster.startAgent("agent-1", urls: [gateway.ws])
                let (_, id2) = try await cluster.startAgent("agent-2", urls: [gateway.ws])
                #expect(await eventually(timeout: .seconds(15)) {
                    let states = try await cluster.states(gateway)
                    return states[id1] == .online && states[id2] == .online
                }, "\(cluster.logs())")
                #expect(try await Self.readyz(gateway).bus?.store?.ok == true)

                // Fill the file system to the last byte.
                let filler = "\(mount)/filler"
                let filled = try Self.fill(filler)
                let fullSince = Date()
                var sent: [String] = []
                func send() async throws {
                    for agent in [id1, id2] {
                        let (status, body) = try await cluster.callback(gateway, agent: agent, kind: "status")
                        guard status == 202 else { throw HarnessError("callback: HTTP \(status) \(String(decoding: body, as: UTF8.self))") }
                        sent.append(try JSONDecoder().decode(CallbackAccepted.self, from: body).requestId)
                    }
                }

                // Under load until the registry reports its writes failing (an upper bound, not a pause).
                let deadline = ContinuousClock.now + .seconds(45)
                var failing: StoreStatus?
                while ContinuousClock.now < deadline {
                    try await send()
                    if let store = try await Self.readyz(gateway).bus?.store, !store.ok {
                        failing = store
                        break
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                let store = try #require(failing, "the store never reported failing writes with \(filled) bytes of filler:\n\(cluster.logs())")
                #expect(store.failingSince != nil)
                #expect(store.error?.isEmpty == false)
                let health = try await Self.readyz(gateway)
                #expect(health.status == "degraded")
                #expect(health.warnings?.contains { $0.contains("cannot write its store") } == true, "\(health.warnings ?? [])")
                let metricsWhileFull = try await Self.text(metricsURL)
                #expect(metricValue(metricsWhileFull, "fleet_registry_store_errors_total") >= 1)
                #expect(metricsWhileFull.contains("fleet_registry_store_healthy 0"), "\(metricsWhileFull)")

                // More acknowledged work while the disk stays full (5 s: heartbeats pile up too);
                // every request finishes in memory.
                for _ in 0..<25 {
                    try await send()
                    try await Task.sleep(for: .milliseconds(200))
                }
                for id in sent {
                    let record = try #require(try await cluster.request(gateway, id: id, wait: 20), "request \(id)")
                    #expect(record.state == .completed, "\(id): \(record.state)")
                }
                let stillFailing = try #require(try await Self.readyz(gateway).bus?.store)
                #expect(!stillFailing.ok, "the requests above finished while the disk was full")
                #expect(stillFailing.pendingRows > 0)
                let freedAt = Date()

                // Free the space: the kept batch lands and the registry is healthy again.
                try FileManager.default.removeItem(atPath: filler)
                #expect(await eventually(timeout: .seconds(20)) { try await Self.readyz(gateway).bus?.store?.ok == true }, "\(cluster.logs())")
                #expect(registry.stderr.contains("store writes land again"))
                #expect(await eventually(timeout: .seconds(5)) {
                    let text = try await Self.text(metricsURL)
                    return text.contains("fleet_registry_store_healthy 1") && text.contains("fleet_registry_store_pending_rows 0")
                })

                // What the new registry loads from the file is what was sent.
                await registry.stop()
                #expect(registry.terminationStatus == 0, "\(registry.stderr.suffix(2000))")
                try await Self.restartRegistry(cluster, on: mount, bus: bus, seenBy: gateway)
                let reloaded = try await cluster.states(gateway)
                #expect(reloaded[id1] != nil && reloaded[id2] != nil, "\(reloaded)")
                var missing: [String] = []
                for id in sent {
                    let record = try await cluster.request(gateway, id: id)
                    if record?.state != .completed { missing.append("\(id): \(record.map { $0.state.rawValue } ?? "unknown")") }
                }
                #expect(missing.isEmpty, "\(missing.count) of \(sent.count) acknowledged requests did not survive: \(missing.prefix(5))")
                // Heartbeat history from while the disk was full (1 s apart) is there too.
                let history = try await Self.history(cluster, gateway, id1, since: fullSince)
                let window = freedAt.timeIntervalSince(fullSince)
                let inWindow = history.filter { $0.timestamp <= freedAt }.count
                #expect(Double(inWindow) >= window / 2, "\(inWindow) samples in \(window) s of full disk")
            }
        }
    }

    @Test("disk full past the pending bound: the registry stops reading events (rows flat, nobody flagged) and loses no heartbeat once space is freed")
    func diskFullPastTheBound() async throws {
        let bound = 20
        try await withTmpfs(megabytes: 16) { mount in
            try await withCluster("disk-full-bound") { cluster in
                let bus = try await cluster.startRegistry([
                    "--set", "data_dir=\(mount)", "--set", "logging.file=registry-logs/registry.log", "--set", "store.max_pending_rows=\(bound)",
                ])
                let registry = try #require(cluster.process(named: "registry"))
                let gateway = try await cluster.startGateway("gateway-a", bus: bus)
                try await cluster.startWorker("worker-1", bus: bus)
                let (_, id1) = try await cluster.startAgent("agent-1", urls: [gateway.ws])
                let (_, id2) = try await cluster.startAgent("agent-2", urls: [gateway.ws])
                #expect(await eventually(timeout: .seconds(15)) {
                    let states = try await cluster.states(gateway)
                    return states[id1] == .online && states[id2] == .online
                }, "\(cluster.logs())")

                let filler = "\(mount)/filler"
                _ = try Self.fill(filler)
                let fullSince = Date()
                // Heartbeats alone (two agents, one a second) fill the pending rows to the bound.
                #expect(await eventually(timeout: .seconds(30)) {
                    (try await Self.readyz(gateway).bus?.store?.pendingRows ?? 0) >= bound
                }, "\(cluster.logs())")
                // Logged when the next event batch meets the bound (an upper bound, not a pause).
                #expect(await eventually(timeout: .seconds(5)) { registry.stderr.contains("not reading bus events") })
                // Held for longer than the peer timeout (3 s here): nothing more is taken in (the
                // rows stay flat) and, the silence being the registry's own, no gateway is declared
                // lost and no agent flagged.
                // The baseline once it has settled: an event batch taken just before the bound
                // was met may still be landing in the pending rows when the log line appears.
                var held = try #require(try await Self.readyz(gateway).bus?.store)
                for _ in 0..<10 {
                    try await Task.sleep(for: .milliseconds(500))
                    let again = try #require(try await Self.readyz(gateway).bus?.store)
                    if again.pendingRows == held.pendingRows { break }
                    held = again
                }
                #expect(!held.ok)
                let quiet = await never(within: .seconds(5)) {
                    let rows = try #require(try await Self.readyz(gateway).bus?.store).pendingRows
                    let states = try await cluster.states(gateway)
                    // Growth is the failure; a drop is a write that found a free page (SQLite can).
                    return rows > held.pendingRows || states[id1] != .online || states[id2] != .online
                }
                let after = try? await Self.readyz(gateway).bus?.store
                let statesAfter = try? await cluster.states(gateway)
                #expect(quiet, "rows grew from \(held.pendingRows), or an agent was flagged, while events were held: now \(String(describing: after)), \(String(describing: statesAfter))")
                let freedAt = Date()

                try FileManager.default.removeItem(atPath: filler)
                #expect(await eventually(timeout: .seconds(20)) { try await Self.readyz(gateway).bus?.store?.ok == true }, "\(cluster.logs())")
                #expect(await eventually(timeout: .seconds(5)) { registry.stderr.contains("reading bus events again") })
                await registry.stop()
                #expect(registry.terminationStatus == 0, "\(registry.stderr.suffix(2000))")
                try await Self.restartRegistry(cluster, on: mount, bus: bus, seenBy: gateway)
                // The beats queued behind the pause were taken in afterwards and written.
                let window = freedAt.timeIntervalSince(fullSince)
                for id in [id1, id2] {
                    let inWindow = try await Self.history(cluster, gateway, id, since: fullSince).filter { $0.timestamp <= freedAt }.count
                    #expect(Double(inWindow) >= window - 3, "\(id): \(inWindow) samples in \(window) s of full disk")
                }
            }
        }
    }

    @Test("corrupt database: a registry started on a garbage file starts, moves it aside untouched, says so, and serves the fleet again")
    func corruptDatabase() async throws {
        try await withCluster("corrupt-store") { cluster in
            let bus = try await cluster.startRegistry()
            let gateway = try await cluster.startGateway("gateway-a", bus: bus)
            try await cluster.startWorker("worker-1", bus: bus)
            let (enrolling, id) = try await cluster.startAgent("agent-1", urls: [gateway.ws])
            #expect(await eventually(timeout: .seconds(15)) { try await cluster.states(gateway)[id] == .online })
            // Restarted, the agent's session is authenticated by its own credential: the one
            // the new, empty store will not know.
            await enrolling.stop()
            #expect(await eventually(timeout: .seconds(10)) { try await cluster.states(gateway)[id] == .disconnected })
            let (_, sameId) = try await cluster.startAgent("agent-1", urls: [gateway.ws])
            #expect(sameId == id)
            #expect(await eventually(timeout: .seconds(15)) { try await cluster.states(gateway)[id] == .online })
            let registry = try #require(cluster.process(named: "registry"))
            await registry.stop()
            #expect(registry.terminationStatus == 0)

            let storeDirectory = cluster.directory.appendingPathComponent("registry")
            let storeFile = storeDirectory.appendingPathComponent("registry.sqlite")
            let garbage = Data((0..<65_536).map { _ in UInt8.random(in: 0...255) })
            try garbage.write(to: storeFile)

            _ = try await cluster.startRegistry(["--set", "metrics.listen=127.0.0.1:0"], name: "registry-2", bus: bus)
            let restarted = try #require(cluster.process(named: "registry-2"))
            let metricsURL = try #require(try await cluster.ready(restarted, file: "registry-2.json").metrics)

            let aside = try FileManager.default.contentsOfDirectory(atPath: storeDirectory.path).filter { $0.hasPrefix("registry.sqlite.corrupt-") }
            #expect(aside.count == 1, "\(aside)")
            let moved = try #require(aside.first)
            #expect(FileManager.default.contents(atPath: storeDirectory.appendingPathComponent(moved).path) == garbage, "the corrupt file is kept as it was")
            #expect(restarted.stderr.contains("registry store was corrupt"), "\(restarted.stderr.suffix(2000))")
            #expect(metricValue(try await Self.text(metricsURL), "fleet_registry_store_corrupt_total") == 1)

            // The gateway resyncs to the new run and re-announces the session (the agent's own
            // secret enrolls it again): the agent is online in the new registry's state.
            #expect(await eventually(timeout: .seconds(20)) {
                let (status, body) = try await HTTP.get("\(gateway.http)/readyz")
                return status == 200 && String(decoding: body, as: UTF8.self).contains("\"resyncs\":1")
            }, "\(cluster.logs())")
            #expect(await eventually(timeout: .seconds(30)) { try await cluster.states(gateway)[id] == .online }, "\(cluster.logs())")
            let health = try await Self.readyz(gateway)
            #expect(health.bus?.store?.corrupt?.movedTo.hasSuffix(moved) == true, "\(String(describing: health.bus?.store))")
            #expect(health.warnings?.contains { $0.contains("was corrupt") } == true, "\(health.warnings ?? [])")
            #expect(health.status == "degraded")
            let finished = try await cluster.finished(gateway, agent: id, kind: "status")
            #expect(finished.state == .completed, "\(finished.error ?? "")\n\(cluster.logs())")
        }
    }

    @Test("master registry backup: a consistent copy of a running registry, 0600, never over an existing file; it restores")
    func backup() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3"), "sqlite3 missing: run bash .ci/install-deps")
        try await withCluster("backup") { cluster in
            let bus = try await cluster.startRegistry()
            let gateway = try await cluster.startGateway("gateway-a", bus: bus)
            try await cluster.startWorker("worker-1", bus: bus)
            let (_, id) = try await cluster.startAgent("agent-1", urls: [gateway.ws])
            #expect(await eventually(timeout: .seconds(15)) { try await cluster.states(gateway)[id] == .online })
            let finished = try await cluster.finished(gateway, agent: id, kind: "status")
            // Past one write-behind interval, so the finished request is in the file.
            try await Task.sleep(for: .milliseconds(300))

            let target = cluster.directory.appendingPathComponent("backup.sqlite").path
            let first = try await cluster.run("master", ["registry", "backup", "--set", "data_dir=registry", target])
            #expect(first.status == 0, "\(first.stderr)")
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: target)[.posixPermissions] as? Int)
            #expect(mode == 0o600, "mode \(String(mode, radix: 8))")
            let query = try await ChildProcess.run("/usr/bin/sqlite3", [target, "PRAGMA integrity_check; SELECT id FROM agent; SELECT state FROM request WHERE id = '\(finished.id)';"])
            #expect(query.output == "ok\n\(id)\ncompleted\n", "\(query.output)")

            let size = try FileManager.default.attributesOfItem(atPath: target)[.size] as? Int
            let again = try await cluster.run("master", ["registry", "backup", "--set", "data_dir=registry", target])
            #expect(again.status == 1)
            #expect(again.stderr.contains("exists"), "\(again.stderr)")
            #expect(try FileManager.default.attributesOfItem(atPath: target)[.size] as? Int == size, "the existing file is untouched")

            // Restore: a registry started on the copy knows the finished request.
            let registry = try #require(cluster.process(named: "registry"))
            await registry.stop()
            let restored = cluster.directory.appendingPathComponent("restored")
            try FileManager.default.createDirectory(at: restored, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: target, toPath: restored.appendingPathComponent("registry.sqlite").path)
            _ = try await cluster.startRegistry(["--set", "data_dir=restored"], name: "registry-2", bus: bus)
            #expect(await eventually(timeout: .seconds(20)) { try await cluster.request(gateway, id: finished.id)?.state == .completed }, "\(cluster.logs())")
        }
    }

    // MARK: Helpers

    struct Readyz: Decodable {
        var status: String
        var bus: BusPeers?
        var warnings: [String]?
    }

    /// Starts `registry-2` on the store in `mount` and waits until `gateway` has resynced to it.
    static func restartRegistry(_ cluster: Cluster, on mount: String, bus: Cluster.Ready.Bus, seenBy gateway: Cluster.Gateway) async throws {
        _ = try await cluster.startRegistry(
            ["--set", "data_dir=\(mount)", "--set", "logging.file=registry-logs/registry-2.log"], name: "registry-2", bus: bus
        )
        #expect(await eventually(timeout: .seconds(20)) {
            let (status, body) = try await HTTP.get("\(gateway.http)/readyz")
            return status == 200 && String(decoding: body, as: UTF8.self).contains("\"resyncs\":1")
        }, "\(cluster.logs())")
    }

    static func readyz(_ gateway: Cluster.Gateway) async throws -> Readyz {
        let (_, body) = try await HTTP.get("\(gateway.http)/readyz")
        return try FleetJSON.decoder().decode(Readyz.self, from: body)
    }

    static func text(_ url: String) async throws -> String {
        let (status, body) = try await HTTP.get(url)
        guard status == 200 else { throw HarnessError("GET \(url): HTTP \(status)") }
        return String(decoding: body, as: UTF8.self)
    }

    static func history(_ cluster: Cluster, _ gateway: Cluster.Gateway, _ id: String, since: Date) async throws -> [MetricsSnapshot] {
        struct History: Decodable { var metrics: [MetricsSnapshot] }
        let (status, body) = try await HTTP.get("\(gateway.http)/api/v1/agents/\(id)/metrics?since=\(FleetJSON.format(since))", token: cluster.adminToken)
        guard status == 200 else { throw HarnessError("history: HTTP \(status) \(String(decoding: body, as: UTF8.self))") }
        return try FleetJSON.decoder().decode(History.self, from: body).metrics
    }

    /// Writes `path` until the file system has no byte left (ENOSPC); returns the bytes written.
    static func fill(_ path: String) throws -> Int {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw HarnessError("cannot create \(path): errno \(errno)") }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0x5A, count: 65_536)
        var total = 0
        var size = chunk.count
        while size > 0 {
            let written = chunk.withUnsafeBytes { write(fd, $0.baseAddress, size) }
            if written > 0 {
                total += written
            } else if errno == ENOSPC || written == 0 {
                // Smaller pieces fill the last partial block too.
                size /= 2
            } else if errno != EINTR {
                throw HarnessError("writing \(path): errno \(errno)")
            }
        }
        return total
    }
}

/// Runs `body` with a tmpfs of `megabytes` mounted at a new directory, and unmounts it
/// however `body` ends (the processes using it must be stopped inside `body`).
func withTmpfs<T>(megabytes: Int, _ body: (String) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-tmpfs-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let mount = try await ChildProcess.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m,mode=0700", "tmpfs", directory])
    guard mount.termination.status == 0 else {
        try? FileManager.default.removeItem(atPath: directory)
        throw HarnessError("mount tmpfs at \(directory) failed (this test needs root): \(mount.output)")
    }
    func unmount() async {
        let result = try? await ChildProcess.run("/bin/umount", [directory])
        if result?.termination.status != 0 {
            // Something still holds it: detach now, the kernel frees it when the last user goes.
            _ = try? await ChildProcess.run("/bin/umount", ["-l", directory])
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
    do {
        let result = try await body(directory)
        await unmount()
        return result
    } catch {
        await unmount()
        throw error
    }
}
