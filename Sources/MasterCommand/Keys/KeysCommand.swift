import ArgumentParser
import Foundation
import ZeroMQ

/// `master keys`: CURVE keys for the bus between the registry, gateways and workers.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Manage the bus's CURVE keys.", subcommands: [Generate.self]
    )

    /// `master keys generate --dir DIR [--gateways N] [--workers M] [--force]`.
    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write CURVE keypairs for the registry, N gateways and M workers (Z85 text; secrets 0600, DIR 0700).",
            discussion: """
                Writes registry.key/.pub, gateway-1.key/.pub … gateway-N, worker-1.key/.pub … worker-M. \
                Point every role's bus.curve.dir at a copy: the registry needs registry.key and every \
                gateway*.pub and worker*.pub (it admits exactly those); each gateway or worker needs its \
                own .key (bus.curve.key names it) and registry.pub.
                """
        )

        @Option(help: "Directory for the key files (created 0700).")
        var dir: String

        @Option(help: "Gateway keypairs to write.")
        var gateways = 1

        @Option(help: "Callback-worker keypairs to write.")
        var workers = 1

        @Flag(help: "Replace key files that already exist (every peer then needs the new ones).")
        var force = false

        func run() async throws {
            guard (0...1000).contains(gateways), (0...1000).contains(workers) else {
                throw fail("--gateways and --workers must be 0...1000")
            }
            guard Curve.isAvailable else { throw fail("\(CurveError.unavailable)") }
            let names = [BusKeyFiles.registryName] + (0..<gateways).map { "gateway-\($0 + 1)" } + (0..<workers).map { "worker-\($0 + 1)" }
            if !force {
                let existing = names.flatMap { [BusKeyFiles.secretPath(dir, $0), BusKeyFiles.publicPath(dir, $0)] }
                    .filter { FileManager.default.fileExists(atPath: $0) }
                if !existing.isEmpty {
                    throw fail("key files exist: \(existing.joined(separator: ", ")) (--force replaces them)")
                }
            }
            do {
                try BusKeyFiles.prepare(dir: dir)
                for name in names {
                    try BusKeyFiles.write(try CurveKeyPair.generate(), dir: dir, name: name)
                }
            } catch {
                FileHandle.standardError.write(Data("master keys generate: \(error)\n".utf8))
                throw ExitCode(1)
            }
            FileHandle.standardOutput.write(Data("""
                wrote \(names.count) keypairs to \(dir): \(names.joined(separator: ", "))
                  registry host:  registry.key and every gateway*.pub, worker*.pub  (--set bus.curve.dir=DIR)
                  gateway/worker: its own NAME.key and registry.pub  (--set bus.curve.dir=DIR --set bus.curve.key=NAME)

                """.utf8))
        }

        /// Bad input: the message on stderr, exit status 2 (as for configuration errors).
        private func fail(_ message: String) -> ExitCode {
            FileHandle.standardError.write(Data("master keys generate: \(message)\n".utf8))
            return ExitCode(2)
        }
    }
}
