import Foundation
import Testing

/// `master keys generate` and how roles read `bus.curve.*`: modes from the first byte, no
/// silent overwrite, and every misconfiguration stops the role with exit 2 and a reason.
@Suite("Bus keys (master keys generate, bus.curve.*)", .serialized)
struct BusKeysTests {
    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    func run(_ cluster: Cluster, _ name: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> (Int32?, String) {
        let process = try cluster.start(name, "master", arguments, environment: environment)
        let status = await process.waitForExit(timeout: .seconds(20))
        if status == nil { await process.stop() }
        let output = (try? String(contentsOfFile: process.stdoutPath, encoding: .utf8)) ?? ""
        return (status, output + process.stderr)
    }

    @Test("keys generate: Z85 keypairs, secrets 0600 in a 0700 directory, public files beside them; no overwrite without --force")
    func generate() async throws {
        try await withCluster("keys-generate") { cluster in
            let dir = cluster.directory.appendingPathComponent("keys").path
            let (status, output) = try await run(cluster, "generate", ["keys", "generate", "--dir", dir, "--gateways", "2", "--workers", "1"])
            #expect(status == 0, "\(output)")
            #expect(try mode(dir) == 0o700)
            let names = ["registry", "gateway-1", "gateway-2", "worker-1"]
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir)) == Set(names.flatMap { ["\($0).key", "\($0).pub"] }))
            var publics: Set<String> = []
            for name in names {
                #expect(try mode("\(dir)/\(name).key") == 0o600, "\(name).key")
                #expect(try mode("\(dir)/\(name).pub") == 0o644, "\(name).pub")
                for file in ["\(name).key", "\(name).pub"] {
                    let text = try String(contentsOfFile: "\(dir)/\(file)", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                    #expect(text.count == 40, "\(file) holds one Z85 key")
                }
                publics.insert(try String(contentsOfFile: "\(dir)/\(name).pub", encoding: .utf8))
            }
            #expect(publics.count == names.count, "every keypair is its own")

            let before = try String(contentsOfFile: "\(dir)/registry.key", encoding: .utf8)
            let (again, refusal) = try await run(cluster, "generate-again", ["keys", "generate", "--dir", dir])
            #expect(again == 2 && refusal.contains("exist") && refusal.contains("--force"), "\(refusal)")
            #expect(try String(contentsOfFile: "\(dir)/registry.key", encoding: .utf8) == before, "nothing was replaced")
            let (forced, _) = try await run(cluster, "generate-force", ["keys", "generate", "--dir", dir, "--force"])
            #expect(forced == 0)
            #expect(try String(contentsOfFile: "\(dir)/registry.key", encoding: .utf8) != before)
            #expect(try mode("\(dir)/registry.key") == 0o600)
        }
    }

    @Test("bus.curve misconfigurations stop the role with exit 2 and name the problem; FLEET_MASTER_BUS_CURVE_DIR works like --set")
    func misconfigured() async throws {
        try await withCluster("keys-misconfigured", curve: true) { cluster in
            let dir = try #require(cluster.keysDirectory).path
            let star = "tcp://127.0.0.1:*"
            let bus = ["events", "updates", "snapshot", "jobs_in", "jobs_out", "blobs"].flatMap { ["--set", "bus.\($0)=\(star)"] }

            // Three gateway keys and no bus.curve.key: which one is ambiguous.
            let (ambiguous, ambiguousText) = try await run(cluster, "gw-ambiguous", ["gateway", "--set", "bus.curve.dir=\(dir)"] + cluster.tokenArguments)
            #expect(ambiguous == 2 && ambiguousText.contains("several gateway keys") && ambiguousText.contains("bus.curve.key"), "\(ambiguousText)")
            // A worker key for a gateway.
            let (wrongRole, wrongRoleText) = try await run(
                cluster, "gw-wrong-role", ["gateway", "--set", "bus.curve.dir=\(dir)", "--set", "bus.curve.key=worker-1"] + cluster.tokenArguments
            )
            #expect(wrongRole == 2 && wrongRoleText.contains("is not a gateway key"), "\(wrongRoleText)")
            // A key name that is a path.
            let (path, pathText) = try await run(cluster, "gw-path", ["gateway", "--set", "bus.curve.dir=\(dir)", "--set", "bus.curve.key=../x"])
            #expect(path == 2 && pathText.contains("bus.curve.key"), "\(pathText)")
            // A secret others can read.
            chmod("\(dir)/gateway-3.key", 0o644)
            let (readable, readableText) = try await run(
                cluster, "gw-readable", ["gateway", "--set", "bus.curve.dir=\(dir)", "--set", "bus.curve.key=gateway-3"] + cluster.tokenArguments
            )
            #expect(readable == 2 && readableText.contains("readable by others") && readableText.contains("chmod 600"), "\(readableText)")
            // No registry.pub on a worker's host.
            let lonely = cluster.directory.appendingPathComponent("lonely").path
            try FileManager.default.createDirectory(atPath: lonely, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: "\(dir)/worker-1.key", toPath: "\(lonely)/worker-1.key")
            let (noRegistry, noRegistryText) = try await run(cluster, "wk-no-registry", ["worker", "--set", "bus.curve.dir=\(lonely)"])
            #expect(noRegistry == 2 && noRegistryText.contains("registry.pub"), "\(noRegistryText)")
            // A registry with nobody to admit.
            try FileManager.default.copyItem(atPath: "\(dir)/registry.key", toPath: "\(lonely)/registry.key")
            chmod("\(lonely)/registry.key", 0o600)
            let (nobody, nobodyText) = try await run(cluster, "reg-nobody", ["registry", "--set", "bus.curve.dir=\(lonely)", "--set", "data_dir=nobody"] + bus)
            #expect(nobody == 2 && nobodyText.contains("admit nobody"), "\(nobodyText)")

            // The environment layer: the registry finds its keys through FLEET_MASTER_BUS_CURVE_DIR.
            let registry = try cluster.start(
                "registry-env", "master", ["registry", "--ready-file", "registry-env.json", "--set", "data_dir=env"] + bus,
                environment: ["FLEET_MASTER_BUS_CURVE_DIR": dir]
            )
            _ = try await cluster.ready(registry, file: "registry-env.json")
            #expect(registry.stderr.contains("bus: CURVE on") && registry.stderr.contains("gateway-1,gateway-2,gateway-3"), "\(registry.stderr)")
            await registry.stop()
        }
    }
}
